// The recipes in this folder use axios, axios-auth-refresh, Vue and Svelte, which are not installed here. These
// declarations hold only what the recipes use, with the signatures of each library's own types (axios 1,
// axios-auth-refresh 3, Vue 3, Svelte 4 and 5), so `npm run typecheck` checks the recipes against them.

declare module 'axios' {
  export type AxiosHeaderValue = string | string[] | number | boolean | null;
  export interface AxiosHeaders {
    set(headerName: string, value: AxiosHeaderValue, rewrite?: boolean): AxiosHeaders;
    get(headerName: string): AxiosHeaderValue | undefined;
    has(headerName: string): boolean;
  }
  export interface AxiosRequestConfig {
    url?: string;
    baseURL?: string;
    method?: string;
    params?: unknown;
    data?: unknown;
  }
  export interface InternalAxiosRequestConfig extends AxiosRequestConfig {
    headers: AxiosHeaders;
  }
  // biome-ignore lint/suspicious/noExplicitAny: axios's own default for response data
  export interface AxiosResponse<T = any> {
    data: T;
    status: number;
    config: InternalAxiosRequestConfig;
  }
  // biome-ignore lint/suspicious/noExplicitAny: axios's own default for response data
  export interface AxiosError<T = any> extends Error {
    isAxiosError: true;
    config?: InternalAxiosRequestConfig;
    response?: AxiosResponse<T>;
  }
  export interface AxiosInterceptorManager<V> {
    use(onFulfilled?: ((value: V) => V | Promise<V>) | null, onRejected?: ((error: unknown) => unknown) | null): number;
    eject(id: number): void;
  }
  export interface AxiosInstance {
    interceptors: {
      request: AxiosInterceptorManager<InternalAxiosRequestConfig>;
      response: AxiosInterceptorManager<AxiosResponse>;
    };
    getUri(config?: AxiosRequestConfig): string;
    // biome-ignore lint/suspicious/noExplicitAny: axios's own default for response data
    request<T = any>(config: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    // biome-ignore lint/suspicious/noExplicitAny: axios's own default for response data
    get<T = any>(url: string, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    // biome-ignore lint/suspicious/noExplicitAny: axios's own default for response data
    post<T = any>(url: string, data?: unknown, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
  }
  export interface AxiosStatic extends AxiosInstance {
    create(config?: AxiosRequestConfig): AxiosInstance;
    isAxiosError(payload: unknown): payload is AxiosError;
  }
  const axios: AxiosStatic;
  export default axios;
}

declare module 'axios-auth-refresh' {
  import type { AxiosError, AxiosInstance, AxiosRequestConfig } from 'axios';

  export interface AxiosAuthRefreshOptions {
    statusCodes?: number[];
    shouldRefresh?(error: AxiosError): boolean;
    retryInstance?: AxiosInstance;
    interceptNetworkError?: boolean;
    pauseInstanceWhileRefreshing?: boolean;
    onRetry?: (requestConfig: AxiosRequestConfig) => AxiosRequestConfig;
  }
  export interface AxiosAuthRefreshRequestConfig extends AxiosRequestConfig {
    skipAuthRefresh?: boolean;
  }
  export default function createAuthRefreshInterceptor(
    instance: AxiosInstance,
    // biome-ignore lint/suspicious/noExplicitAny: the library's own type for the failed request
    refreshAuthLogic: (failedRequest: any) => Promise<unknown>,
    options?: AxiosAuthRefreshOptions,
  ): number;
}

declare module 'vue' {
  const ShallowRefMarker: unique symbol;
  export interface Ref<T = unknown> {
    value: T;
  }
  export interface ShallowRef<T = unknown> extends Ref<T> {
    [ShallowRefMarker]?: true;
  }
  export function shallowRef<T>(value: T): ShallowRef<T>;
  export function onScopeDispose(fn: () => void, failSilently?: boolean): void;
}

declare module 'svelte/store' {
  export type Subscriber<T> = (value: T) => void;
  export type Unsubscriber = () => void;
  export type Updater<T> = (value: T) => T;
  export type StartStopNotifier<T> = (
    set: (value: T) => void,
    update: (fn: Updater<T>) => void,
    // biome-ignore lint/suspicious/noConfusingVoidType: Svelte's own type
  ) => void | (() => void);
  export interface Readable<T> {
    subscribe(this: void, run: Subscriber<T>, invalidate?: () => void): Unsubscriber;
  }
  export function readable<T>(value?: T, start?: StartStopNotifier<T>): Readable<T>;
}
