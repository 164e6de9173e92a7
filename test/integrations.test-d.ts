/**
 * Types of the integrations: tokenkeeper/ky against both ky majors, tokenkeeper/react, and the shapes React
 * Native code hands to createTokenManager. The core's own types are in types.test-d.ts.
 */
import type {
  AfterResponseHook as Ky2AfterResponseHook,
  BeforeRequestHook as Ky2BeforeRequestHook,
  BeforeRetryHook as Ky2BeforeRetryHook,
  Hooks as Ky2Hooks,
  KyInstance as Ky2Instance,
  Options as Ky2Options,
} from 'ky';
import type {
  AfterResponseHook as Ky1AfterResponseHook,
  BeforeRequestHook as Ky1BeforeRequestHook,
  BeforeRetryHook as Ky1BeforeRetryHook,
  Hooks as Ky1Hooks,
  KyInstance as Ky1Instance,
  Options as Ky1Options,
} from 'ky1';
import { describe, expectTypeOf, it } from 'vitest';
import type { AuthState, TokenManager, TokenManagerEvents, TokenManagerOptions, TokenResponse } from 'tokenkeeper';
import { type KyHooks, kyHooks } from '../src/ky';
import { useAuthState } from '../src/react';

declare const auth: TokenManager;
declare const ky2: Ky2Instance;
declare const ky1: Ky1Instance;

describe('tokenkeeper/ky', () => {
  it('kyHooks takes a TokenManager and returns KyHooks', () => {
    expectTypeOf(kyHooks).parameters.toEqualTypeOf<[TokenManager]>();
    expectTypeOf(kyHooks).returns.toEqualTypeOf<KyHooks>();
    // @ts-expect-error not a token manager
    kyHooks({ getAccessToken: async () => 'token' });
  });

  it("kyHooks(auth) is assignable to ky 2's Options['hooks'] and to each of its hook lists", () => {
    expectTypeOf(kyHooks(auth)).toExtend<NonNullable<Ky2Options['hooks']>>();
    expectTypeOf(kyHooks(auth)).toExtend<Ky2Hooks>();
    expectTypeOf(kyHooks(auth).beforeRequest).toExtend<Ky2BeforeRequestHook[]>();
    expectTypeOf(kyHooks(auth).beforeRetry).toExtend<Ky2BeforeRetryHook[]>();
    expectTypeOf(kyHooks(auth).afterResponse).toExtend<Ky2AfterResponseHook[]>();
    expectTypeOf(ky2.create).toBeCallableWith({ hooks: kyHooks(auth) });
    expectTypeOf(ky2.extend).toBeCallableWith({ hooks: kyHooks(auth) });
  });

  it("kyHooks(auth) is assignable to ky 1's Options['hooks'] and to each of its hook lists", () => {
    expectTypeOf(kyHooks(auth)).toExtend<NonNullable<Ky1Options['hooks']>>();
    expectTypeOf(kyHooks(auth)).toExtend<Ky1Hooks>();
    expectTypeOf(kyHooks(auth).beforeRequest).toExtend<Ky1BeforeRequestHook[]>();
    expectTypeOf(kyHooks(auth).beforeRetry).toExtend<Ky1BeforeRetryHook[]>();
    expectTypeOf(kyHooks(auth).afterResponse).toExtend<Ky1AfterResponseHook[]>();
    expectTypeOf(ky1.create).toBeCallableWith({ hooks: kyHooks(auth) });
    expectTypeOf(ky1.extend).toBeCallableWith({ hooks: kyHooks(auth) });
  });

  it("combines with the user's own hooks of either major", () => {
    const hooks = kyHooks(auth);
    const ky2Logger: Ky2AfterResponseHook = ({ response }) => {
      void response.status;
    };
    const ky1Logger: Ky1AfterResponseHook = (_request, _options, response) => {
      void response.status;
    };
    expectTypeOf({
      ...hooks,
      afterResponse: [...hooks.afterResponse, ky2Logger],
    }).toExtend<Ky2Hooks>();
    expectTypeOf({
      ...hooks,
      afterResponse: [...hooks.afterResponse, ky1Logger],
    }).toExtend<Ky1Hooks>();
  });
});

describe('tokenkeeper/react', () => {
  it('useAuthState takes a TokenManager and returns AuthState', () => {
    expectTypeOf(useAuthState(auth)).toEqualTypeOf<AuthState>();
    expectTypeOf(useAuthState(auth).status).toEqualTypeOf<'loading' | 'authenticated' | 'unauthenticated'>();
    // @ts-expect-error a state is not a manager
    useAuthState(auth.getState());
  });

  it('fits the parts of the manager that useSyncExternalStore takes', () => {
    type Store = Parameters<typeof import('react').useSyncExternalStore<AuthState>>;
    expectTypeOf(auth.subscribe).toExtend<Store[0]>();
    expectTypeOf(auth.getState).toExtend<Store[1]>();
  });
});

describe('React Native shapes', () => {
  it("an AppState listener fits onResume (addEventListener('change') returns a subscription)", () => {
    type AppStateStatus = 'active' | 'background' | 'inactive' | 'unknown' | 'extension';
    const AppState = {} as {
      addEventListener(type: 'change', listener: (state: AppStateStatus) => void): { remove(): void };
    };
    const onResume = (check: () => void) => {
      const subscription = AppState.addEventListener('change', (state) => state === 'active' && check());
      return () => subscription.remove();
    };
    expectTypeOf(onResume).toExtend<NonNullable<TokenManagerOptions['onResume']>>();
  });

  it('AsyncStorage fits storage as it is, and an expo-secure-store adapter fits too', () => {
    type AsyncStorageStatic = {
      getItem(key: string, callback?: (error?: Error | null, result?: string | null) => void): Promise<string | null>;
      setItem(key: string, value: string, callback?: (error?: Error | null) => void): Promise<void>;
      removeItem(key: string, callback?: (error?: Error | null) => void): Promise<void>;
      clear(): Promise<void>;
    };
    expectTypeOf<AsyncStorageStatic>().toExtend<NonNullable<TokenManagerOptions['storage']>>();
    const SecureStore = {} as {
      getItemAsync(key: string): Promise<string | null>;
      setItemAsync(key: string, value: string): Promise<void>;
      deleteItemAsync(key: string): Promise<void>;
    };
    const adapter = {
      getItem: (key: string) => SecureStore.getItemAsync(key),
      setItem: (key: string, value: string) => SecureStore.setItemAsync(key, value),
      removeItem: (key: string) => SecureStore.deleteItemAsync(key),
    };
    expectTypeOf(adapter).toExtend<NonNullable<TokenManagerOptions['storage']>>();
  });
});

describe('payloads an integration passes on', () => {
  it("a 'refresh' payload's accessToken is a string, ready for an Authorization header", () => {
    auth.on('refresh', (payload: TokenManagerEvents['refresh']) => {
      expectTypeOf(`Bearer ${payload.accessToken}`).toEqualTypeOf<string>();
      expectTypeOf(payload.accessToken).not.toEqualTypeOf<string | null>();
    });
  });

  it('a login response in camelCase fits TokenResponse; a snake_case one does not', () => {
    expectTypeOf({ accessToken: 'a', refreshToken: 'r', expiresIn: 3600 }).toExtend<TokenResponse>();
    expectTypeOf({ accessToken: 'a', refreshToken: null }).toExtend<TokenResponse>();
    expectTypeOf<{ access_token: string; refresh_token: string }>().not.toExtend<TokenResponse>();
    expectTypeOf<{ accessToken: string; expiresIn: string }>().not.toExtend<TokenResponse>();
  });
});
