import type { TokenkeeperError } from './errors';

/** A token set as a login or a refresh returns it. */
export interface TokenResponse {
  /** The access token: a JWT, or an opaque string when `expiresIn` is given. */
  accessToken: string;
  /**
   * The refresh token. Omitted: a refresh keeps the current one (servers that do not rotate);
   * `null`: none is held (it lives in an HttpOnly cookie). `setTokens()` always replaces the whole set.
   */
  refreshToken?: string | null | undefined;
  /** Lifetime of the access token in seconds, measured from when it was received. Wins over the JWT's `exp`. */
  expiresIn?: number | undefined;
}

/**
 * A token set with the names of OAuth 2.0 (RFC 6749 §5.1), as most login endpoints answer, so that
 * `auth.setTokens(await response.json())` works. Where both spellings are given, the camelCase one is used.
 */
export interface OAuthTokenResponse {
  access_token: string;
  refresh_token?: string | null | undefined;
  /** Seconds; a numeric string such as `"3600"` is read as a number. */
  expires_in?: number | string | undefined;
}

/** Context handed to a custom refresh function. */
export interface RefreshContext {
  /** The refresh token held, or `null` when it lives in a cookie. */
  refreshToken: string | null;
  /** Aborted when the session ends (logout, another login, `destroy()`) or the request times out. */
  signal: AbortSignal;
}

/**
 * Obtains a new token set. Throw `RefreshRejectedError` to say the session is over;
 * any other throw is treated as transient and retried with backoff.
 */
export type RefreshFn = (context: RefreshContext) => Promise<TokenResponse>;

/** Context handed to a custom logout function. */
export interface LogoutContext {
  accessToken: string | null;
  refreshToken: string | null;
  signal: AbortSignal;
}

/** Tells the server that the session ended. A throw is reported as an `'error'` event, never re-thrown. */
export type LogoutFn = (context: LogoutContext) => Promise<void>;

/** A built-in HTTP endpoint for refresh or logout. */
export interface EndpointOptions {
  /** Absolute URL, or a path when the page has an origin. Its query string is kept. */
  url: string;
  /**
   * `'json'`: JSON body `{"refresh_token": …}`.
   * `'oauth2'`: RFC 6749 §6 refresh and RFC 7009 revocation, form-encoded.
   * @default 'json'
   */
  format?: 'json' | 'oauth2' | undefined;
  /** Sent as `client_id` in `'oauth2'` requests. */
  clientId?: string | undefined;
  /** Passed to `fetch`; `'include'` sends cookies cross-origin (refresh token in an HttpOnly cookie). */
  credentials?: RequestCredentials | undefined;
  /** Extra request headers. */
  headers?: Record<string, string> | undefined;
  /**
   * Milliseconds before the request is abandoned (a refresh timeout is transient).
   * @default 10000
   */
  timeout?: number | undefined;
}

/** Storages chosen by name: the browser's own, or memory where there is none. */
export type StorageName = 'localStorage' | 'sessionStorage' | 'memory';

/** Storage for the token set: `localStorage`, `sessionStorage` and React Native `AsyncStorage` fit as they are. */
export interface TokenStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/**
 * Runs `fn` while holding the lock `name`, across every tab that shares it, and releases it when `fn`
 * settles. An implementation must stop waiting after a finite time and then run `fn` anyway.
 */
export type Lock = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

/** The part of `BroadcastChannel` that tokenkeeper uses. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

/**
 * Platform pieces that can be replaced, for tests and for runtimes the defaults do not fit.
 * Every field is optional; the defaults read the globals when they are used, so fake timers apply.
 */
export interface TokenManagerEnvironment {
  /** The wall clock. @default () => Date.now() */
  now?: (() => number) | undefined;
  /**
   * A clock that only moves forward, whatever happens to the wall clock (the user or NTP setting it).
   * A refresh is due when either clock says so: a wall clock set back does not delay it, and a device that
   * slept (its wall clock jumped ahead) refreshes at once.
   * @default () => performance.now()
   */
  monotonicNow?: (() => number) | undefined;
  /** @default globalThis.setTimeout */
  setTimeout?: ((callback: () => void, delayMs: number) => unknown) | undefined;
  /** @default globalThis.clearTimeout */
  clearTimeout?: ((handle: unknown) => void) | undefined;
  /** Uniform in [0, 1), for backoff jitter. @default Math.random */
  random?: (() => number) | undefined;
  /**
   * Serialises refreshes across the tabs that share a channel. Without an open channel (`channel: false`,
   * or Node without a named channel) a manager uses no shared lock unless one is given here.
   * @default Web Locks (`navigator.locks`) where present, else a lock within this JavaScript realm
   */
  lock?: Lock | undefined;
  /**
   * Opens the cross-tab channel; return `null` for none.
   * @default `new BroadcastChannel(name)` where BroadcastChannel exists; in Node only when `channel` is named
   * in the options (managers of different users in one server process must not share a session by default)
   * @example
   * // A channel of one's own, e.g. a test double
   * environment: { createChannel: (name) => new FakeChannel(name) }
   */
  createChannel?: ((name: string) => ChannelLike | null) | undefined;
}

/** Options of `createTokenManager`. */
export interface TokenManagerOptions {
  /** How a new token set is obtained: a function, or a built-in endpoint. */
  refresh: RefreshFn | EndpointOptions;
  /** How the server is told that the session ended. Without it, `logout()` is local only. */
  logout?: LogoutFn | EndpointOptions | undefined;
  /**
   * Where the token set is kept; sync or async. A name picks the browser's storage when the manager is created,
   * and memory where there is none (server rendering, React Native), so one configuration serves both. Only
   * the page's `localStorage` is shared by the tabs: with any other storage a new tab asks the open tabs for
   * the session (see `AuthState`'s `'loading'`).
   * @default 'memory'
   */
  storage?: TokenStorage | StorageName | undefined;
  /**
   * Key used in `storage`.
   * @default 'tokenkeeper'
   */
  storageKey?: string | undefined;
  /**
   * Refresh this many milliseconds before the access token expires; never more than half its lifetime.
   * @default 60000
   */
  refreshMargin?: number | undefined;
  /**
   * Where `auth.fetch` may send the access token. An array adds origins to the page's own;
   * a function alone decides. Required where there is no page origin (React Native, Node).
   * @default the page's own origin
   */
  allowedOrigins?: string[] | ((url: URL) => boolean) | undefined;
  /**
   * Cross-tab channel name (BroadcastChannel); `false` turns cross-tab sync off. In Node, where managers of
   * several users may share a process, a channel is opened only when it is named here.
   * @default 'tokenkeeper' (in pages and workers)
   */
  channel?: string | false | undefined;
  /**
   * Used for refresh, logout and `auth.fetch`.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch | undefined;
  /**
   * Subscribes to "the app is back" and returns an unsubscribe function.
   * @default browser: `visibilitychange`, `focus`, `online`, `pageshow`; elsewhere none
   * @example
   * // React Native
   * onResume: (check) => {
   *   const sub = AppState.addEventListener('change', (s) => s === 'active' && check());
   *   return () => sub.remove();
   * }
   */
  onResume?: ((check: () => void) => () => void) | undefined;
  /**
   * For a refresh token kept in an HttpOnly cookie: when the manager starts without a session (none stored, no
   * open tab has one), it calls the refresh endpoint once with no refresh token, under the cross-tab refresh
   * lock, and signs in with the answer (`'login'`, source `'restore'`). 400/401 means signed out, quietly; a
   * transient failure leaves it signed out with one `'error'`. With it, `refresh()` while signed out asks the
   * server the same way instead of rejecting.
   * @default false
   */
  restore?: boolean | undefined;
  /** Replaces platform pieces: clock, timers, lock, channel. For tests and unusual runtimes. */
  environment?: TokenManagerEnvironment | undefined;
}

/** The claims type of a manager that was not given one: the JWT payload as an object. */
export type DefaultClaims = Record<string, unknown>;

/**
 * A snapshot of the session; the same object until something changes. Narrowed by `status`:
 * `'loading'` while it is not known yet (an async storage being read, the open tabs being asked, a `restore`
 * call in flight), then `'authenticated'` or `'unauthenticated'`.
 */
export type AuthState<Claims extends object = DefaultClaims> =
  | {
      status: 'loading';
      accessToken: null;
      expiresAt: null;
      claims: null /** A refresh is in flight. */;
      refreshing: boolean;
    }
  | { status: 'unauthenticated'; accessToken: null; expiresAt: null; claims: null; refreshing: boolean }
  | {
      status: 'authenticated';
      accessToken: string;
      /** Milliseconds since the epoch on this device's clock; `null` when the token never expires. */
      expiresAt: number | null;
      /** The JWT payload; `null` for an opaque token. */
      claims: Claims | null;
      refreshing: boolean;
    };

/** The status of an `AuthState`. */
export type AuthStatus = AuthState['status'];

/** Payloads of the events emitted by `auth.on()`. */
export interface TokenManagerEvents {
  /** A session started: here (`setTokens`), in another tab, or from the server's cookie (`restore`). */
  login: { source: 'local' | 'remote' | 'restore' };
  /** New tokens arrived: from a refresh here, or in another tab. */
  refresh: { accessToken: string; expiresAt: number | null; source: 'local' | 'remote' };
  /** The session ended: `'user'` (or the reason given to `logout()`), `'remote'` or `'refresh-rejected'`. */
  logout: { reason: 'user' | 'remote' | 'refresh-rejected' | (string & {}) };
  /** A failure that did not end the session: transient refresh failure, storage failure, logout call failure. */
  error: { error: TokenkeeperError };
}

export type TokenManagerEventName = keyof TokenManagerEvents;

/** Options of `auth.logout()`. */
export interface LogoutOptions {
  /** Replaces `'user'` as the `reason` of the `'logout'` event. */
  reason?: string | undefined;
}

/** A client-side token manager; see `createTokenManager`. */
export interface TokenManager<Claims extends object = DefaultClaims> {
  /**
   * Settles when the status is known (it leaves `'loading'`), or the manager is destroyed; never rejects.
   * `getAccessToken()`, `refresh()` and `fetch()` wait for it.
   */
  readonly ready: Promise<void>;
  /**
   * After a login: stores the token set, schedules the refresh and tells the other tabs. Takes the camelCase
   * names and the OAuth 2.0 ones, so `setTokens(await response.json())` works. Waits only for the stored
   * session to be read: it wins over a tab query or `restore` call still in flight.
   * @throws InvalidTokenError when the access token is not a string, or not a decodable JWT without `expiresIn`
   */
  setTokens(tokens: TokenResponse | OAuthTokenResponse): Promise<void>;
  /** The access token, refreshed first when it is within the margin or expired; `null` when signed out. */
  getAccessToken(): Promise<string | null>;
  /**
   * Refreshes now, joining a refresh in flight. Signed out, it rejects with `NotAuthenticatedError`, or with
   * `restore`, asks the server (joining a restore in flight).
   */
  refresh(): Promise<string>;
  /** `fetch` with the bearer token for allowed origins, and one retry after a 401. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * Whether the access token may be sent to `url` (resolved against the page's address): the rule
   * `auth.fetch` applies, for other clients (ky, WebSocket, axios). `false` after `destroy()`.
   * @throws ConfigurationError where there is no page origin and `allowedOrigins` is not set
   */
  isAllowedOrigin(url: string | URL): boolean;
  /** Clears the session here and in the other tabs, then tells the server. Never rejects because the server failed. */
  logout(options?: LogoutOptions): Promise<{ serverNotified: boolean }>;
  /** The current state snapshot. */
  getState(): AuthState<Claims>;
  /** Calls `listener` after every change of state; returns an unsubscribe function. */
  subscribe(listener: (state: AuthState<Claims>) => void): () => void;
  /** Listens to an event; returns an unsubscribe function. */
  on<E extends TokenManagerEventName>(event: E, handler: (payload: TokenManagerEvents[E]) => void): () => void;
  /** Stops timers, listeners and the channel. Not a logout: storage is kept and nobody is told. */
  destroy(): void;
}
