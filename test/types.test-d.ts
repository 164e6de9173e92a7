import { describe, expectTypeOf, it } from 'vitest';
import {
  type AuthState,
  ConfigurationError,
  createTokenManager,
  type EndpointOptions,
  type InvalidTokenError,
  type LogoutFn,
  type NotAuthenticatedError,
  type OAuthTokenResponse,
  RefreshFailedError,
  type RefreshFn,
  RefreshRejectedError,
  type TokenkeeperError,
  type TokenkeeperErrorCode,
  type TokenManager,
  type TokenManagerEvents,
  type TokenManagerOptions,
  type TokenResponse,
  type TokenStorage,
} from 'tokenkeeper';

declare const auth: TokenManager;

describe('options', () => {
  it('refresh accepts a RefreshFn or EndpointOptions', () => {
    expectTypeOf<TokenManagerOptions['refresh']>().toEqualTypeOf<RefreshFn | EndpointOptions>();
    expectTypeOf(createTokenManager).toBeCallableWith({ refresh: { url: 'https://api.test/auth/refresh' } });
    expectTypeOf(createTokenManager).toBeCallableWith({
      refresh: async ({ refreshToken, signal }) => {
        expectTypeOf(refreshToken).toEqualTypeOf<string | null>();
        expectTypeOf(signal).toEqualTypeOf<AbortSignal>();
        return { accessToken: 'a', refreshToken: null, expiresIn: 60 };
      },
    });
  });

  it('logout accepts a LogoutFn or EndpointOptions, and is optional', () => {
    expectTypeOf<TokenManagerOptions['logout']>().toEqualTypeOf<LogoutFn | EndpointOptions | undefined>();
    expectTypeOf<Parameters<LogoutFn>[0]>().toEqualTypeOf<{
      accessToken: string | null;
      refreshToken: string | null;
      signal: AbortSignal;
    }>();
    expectTypeOf<ReturnType<LogoutFn>>().toEqualTypeOf<Promise<void>>();
  });

  it('RefreshFn returns a Promise of a TokenResponse', () => {
    expectTypeOf<ReturnType<RefreshFn>>().toEqualTypeOf<Promise<TokenResponse>>();
  });

  it('EndpointOptions.format is the literal union json | oauth2', () => {
    expectTypeOf<EndpointOptions['format']>().toEqualTypeOf<'json' | 'oauth2' | undefined>();
    expectTypeOf<EndpointOptions['url']>().toEqualTypeOf<string>();
    expectTypeOf<EndpointOptions['timeout']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<EndpointOptions['clientId']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<EndpointOptions['headers']>().toEqualTypeOf<Record<string, string> | undefined>();
    expectTypeOf<EndpointOptions['credentials']>().toEqualTypeOf<RequestCredentials | undefined>();
  });

  it('the other options have their documented types', () => {
    expectTypeOf<TokenManagerOptions['storage']>().toEqualTypeOf<
      TokenStorage | 'localStorage' | 'sessionStorage' | 'memory' | undefined
    >();
    expectTypeOf<TokenManagerOptions['restore']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<TokenManagerOptions['storageKey']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<TokenManagerOptions['refreshMargin']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<TokenManagerOptions['allowedOrigins']>().toEqualTypeOf<
      string[] | ((url: URL) => boolean) | undefined
    >();
    expectTypeOf<TokenManagerOptions['channel']>().toEqualTypeOf<string | false | undefined>();
    expectTypeOf<TokenManagerOptions['fetch']>().toEqualTypeOf<typeof fetch | undefined>();
    expectTypeOf<TokenManagerOptions['onResume']>().toEqualTypeOf<((check: () => void) => () => void) | undefined>();
  });

  it('localStorage and an async storage fit TokenStorage as they are', () => {
    expectTypeOf<Storage>().toExtend<TokenStorage>();
    expectTypeOf<{
      getItem(key: string): Promise<string | null>;
      setItem(key: string, value: string): Promise<void>;
      removeItem(key: string): Promise<void>;
    }>().toExtend<TokenStorage>();
  });

  it('rejects options of the wrong type', () => {
    // @ts-expect-error format is 'json' | 'oauth2'
    createTokenManager({ refresh: { url: 'https://api.test/r', format: 'xml' } });
    // @ts-expect-error refreshMargin is a number of milliseconds
    createTokenManager({ refresh: { url: 'https://api.test/r' }, refreshMargin: '60s' });
    // @ts-expect-error channel is a string or false
    createTokenManager({ refresh: { url: 'https://api.test/r' }, channel: true });
    // @ts-expect-error refresh is required
    createTokenManager({ storageKey: 'x' });
  });
});

describe('the manager', () => {
  it('has the documented method types', () => {
    expectTypeOf(auth.ready).toEqualTypeOf<Promise<void>>();
    expectTypeOf(auth.getAccessToken).returns.toEqualTypeOf<Promise<string | null>>();
    expectTypeOf(auth.refresh).returns.toEqualTypeOf<Promise<string>>();
    expectTypeOf(auth.logout).returns.toEqualTypeOf<Promise<{ serverNotified: boolean }>>();
    expectTypeOf(auth.setTokens).parameter(0).toEqualTypeOf<TokenResponse | OAuthTokenResponse>();
    expectTypeOf(auth.setTokens).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(auth.getState).returns.toEqualTypeOf<AuthState>();
    expectTypeOf(auth.fetch).returns.toEqualTypeOf<Promise<Response>>();
    expectTypeOf(auth.subscribe).returns.toEqualTypeOf<() => void>();
    expectTypeOf(auth.destroy).returns.toEqualTypeOf<void>();
  });
});

describe('events', () => {
  it('login carries its source', () => {
    auth.on('login', (payload) => {
      expectTypeOf(payload).toEqualTypeOf<{ source: 'local' | 'remote' | 'restore' }>();
    });
  });

  it('refresh carries the access token, expiresAt and source', () => {
    auth.on('refresh', (payload) => {
      expectTypeOf(payload).toEqualTypeOf<{
        accessToken: string;
        expiresAt: number | null;
        source: 'local' | 'remote';
      }>();
    });
  });

  it('logout carries a reason that suggests the known ones and accepts any string', () => {
    auth.on('logout', (payload) => {
      expectTypeOf(payload.reason).toExtend<string>();
      expectTypeOf<'user'>().toExtend<typeof payload.reason>();
      expectTypeOf<'remote'>().toExtend<typeof payload.reason>();
      expectTypeOf<'refresh-rejected'>().toExtend<typeof payload.reason>();
      expectTypeOf<'session-expired'>().toExtend<typeof payload.reason>();
    });
  });

  it("error carries one of the package's errors", () => {
    auth.on('error', (payload) => {
      expectTypeOf(payload).toEqualTypeOf<{ error: TokenkeeperError }>();
      expectTypeOf(payload.error.code).toEqualTypeOf<TokenkeeperErrorCode>();
    });
  });

  it('on returns an unsubscribe function and rejects an unknown event name', () => {
    expectTypeOf(auth.on('login', () => {})).toEqualTypeOf<() => void>();
    // @ts-expect-error 'signin' is not an event
    auth.on('signin', () => {});
    // @ts-expect-error a login payload has no accessToken
    auth.on('login', (payload: TokenManagerEvents['refresh']) => payload);
  });
});

describe('token response and state', () => {
  it('TokenResponse has accessToken, an optional nullable refreshToken and an optional expiresIn', () => {
    expectTypeOf<TokenResponse['accessToken']>().toEqualTypeOf<string>();
    expectTypeOf<TokenResponse['refreshToken']>().toEqualTypeOf<string | null | undefined>();
    expectTypeOf<TokenResponse['expiresIn']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<{ accessToken: string }>().toExtend<TokenResponse>();
    expectTypeOf<{ refreshToken: string }>().not.toExtend<TokenResponse>();
  });

  it('AuthState has a status union and nullable fields', () => {
    expectTypeOf<AuthState['status']>().toEqualTypeOf<'loading' | 'authenticated' | 'unauthenticated'>();
    expectTypeOf<AuthState['accessToken']>().toEqualTypeOf<string | null>();
    expectTypeOf<AuthState['expiresAt']>().toEqualTypeOf<number | null>();
    expectTypeOf<AuthState['claims']>().toEqualTypeOf<Record<string, unknown> | null>();
    expectTypeOf<AuthState['refreshing']>().toEqualTypeOf<boolean>();
  });
});

describe('errors', () => {
  it('each error has a literal code type', () => {
    expectTypeOf<InvalidTokenError['code']>().toEqualTypeOf<'invalid_token'>();
    expectTypeOf<RefreshRejectedError['code']>().toEqualTypeOf<'refresh_rejected'>();
    expectTypeOf<RefreshFailedError['code']>().toEqualTypeOf<'refresh_failed'>();
    expectTypeOf<NotAuthenticatedError['code']>().toEqualTypeOf<'not_authenticated'>();
    expectTypeOf<ConfigurationError['code']>().toEqualTypeOf<'configuration'>();
    expectTypeOf<TokenkeeperError['code']>().toEqualTypeOf<TokenkeeperErrorCode>();
  });

  it('each error extends TokenkeeperError and Error, and takes (message?, { cause })', () => {
    expectTypeOf<InvalidTokenError>().toExtend<TokenkeeperError>();
    expectTypeOf<TokenkeeperError>().toExtend<Error>();
    expectTypeOf(RefreshFailedError).toBeConstructibleWith('failed', { cause: new Error('root') });
    expectTypeOf(RefreshRejectedError).toBeConstructibleWith();
    expectTypeOf(ConfigurationError).toBeConstructibleWith('bad option');
  });
});
