// Types of the contract as users write against them, compiled with `strict` and `exactOptionalPropertyTypes`
// (tsconfig.json): the state narrowed by `status`, a claims type, the errors, explicit `undefined` options,
// the exported platform types and the selector of `useAuthState`.
import { describe, expectTypeOf, it } from 'vitest';
import {
  type AuthState,
  type ChannelLike,
  createTokenManager,
  isTokenkeeperError,
  type Lock,
  type OAuthTokenResponse,
  RefreshRejectedError,
  type StorageName,
  type TokenkeeperError,
  type TokenkeeperErrorCode,
  type TokenManager,
  type TokenManagerEnvironment,
  type TokenManagerOptions,
} from 'tokenkeeper';
import { useAuthState } from '../src/react';

/** Claims as an app declares them: an interface, which has no index signature. */
interface AppClaims {
  sub: string;
  name?: string;
  roles: string[];
}

declare const auth: TokenManager;
declare const typed: TokenManager<AppClaims>;

describe('AuthState is narrowed by status', () => {
  it('authenticated: a string token; loading and unauthenticated: null everywhere', () => {
    const state = auth.getState();
    if (state.status === 'authenticated') {
      expectTypeOf(state.accessToken).toEqualTypeOf<string>();
      expectTypeOf(state.expiresAt).toEqualTypeOf<number | null>();
      expectTypeOf(state.claims).toEqualTypeOf<Record<string, unknown> | null>();
    } else {
      expectTypeOf(state.status).toEqualTypeOf<'loading' | 'unauthenticated'>();
      expectTypeOf(state.accessToken).toEqualTypeOf<null>();
      expectTypeOf(state.expiresAt).toEqualTypeOf<null>();
      expectTypeOf(state.claims).toEqualTypeOf<null>();
    }
    expectTypeOf(state.refreshing).toEqualTypeOf<boolean>();
  });

  it('a switch over status is exhaustive with three cases', () => {
    const label = (state: AuthState): string => {
      switch (state.status) {
        case 'loading':
          return 'wait';
        case 'unauthenticated':
          return 'sign in';
        case 'authenticated':
          return state.accessToken;
        default:
          return state satisfies never;
      }
    };
    expectTypeOf(label).returns.toEqualTypeOf<string>();
  });
});

describe('createTokenManager<Claims>()', () => {
  it('types the claims of the state with an interface', () => {
    const manager = createTokenManager<AppClaims>({ refresh: { url: 'https://api.test/auth/refresh' } });
    expectTypeOf(manager).toEqualTypeOf<TokenManager<AppClaims>>();
    const state = typed.getState();
    if (state.status === 'authenticated') {
      expectTypeOf(state.claims).toEqualTypeOf<AppClaims | null>();
      expectTypeOf(state.claims?.roles).toEqualTypeOf<string[] | undefined>();
    }
    typed.subscribe((next) => {
      expectTypeOf(next).toEqualTypeOf<AuthState<AppClaims>>();
    });
  });

  it('defaults to Record<string, unknown>', () => {
    const manager = createTokenManager({ refresh: { url: 'https://api.test/auth/refresh' } });
    expectTypeOf(manager).toEqualTypeOf<TokenManager>();
    expectTypeOf(manager.getState()).toEqualTypeOf<AuthState<Record<string, unknown>>>();
  });

  it('takes only object types as claims', () => {
    // @ts-expect-error claims are an object
    createTokenManager<string>({ refresh: { url: 'https://api.test/auth/refresh' } });
  });
});

describe('errors', () => {
  it("the 'error' payload is one of the package's errors, with a code of the union", () => {
    auth.on('error', ({ error }) => {
      expectTypeOf(error).toEqualTypeOf<TokenkeeperError>();
      expectTypeOf(error.code).toEqualTypeOf<TokenkeeperErrorCode>();
    });
  });

  it('TokenkeeperErrorCode lists every code', () => {
    expectTypeOf<TokenkeeperErrorCode>().toEqualTypeOf<
      | 'invalid_token'
      | 'refresh_rejected'
      | 'refresh_failed'
      | 'not_authenticated'
      | 'configuration'
      | 'storage_failed'
      | 'logout_failed'
      | 'http_status'
      | 'timeout'
      | 'unreadable_response'
    >();
    expectTypeOf<RefreshRejectedError['code']>().toExtend<TokenkeeperErrorCode>();
  });

  it('isTokenkeeperError narrows unknown, and takes only known codes', () => {
    const error: unknown = new RefreshRejectedError();
    if (isTokenkeeperError(error)) expectTypeOf(error).toEqualTypeOf<TokenkeeperError>();
    if (isTokenkeeperError(error, 'refresh_rejected')) expectTypeOf(error.code).toEqualTypeOf<TokenkeeperErrorCode>();
    // @ts-expect-error not a code of the package
    isTokenkeeperError(error, 'refresh_rejectd');
  });
});

describe('options under exactOptionalPropertyTypes', () => {
  it('every optional option accepts an explicit undefined, meaning the default', () => {
    const options: TokenManagerOptions = {
      refresh: {
        url: 'https://api.test/auth/refresh',
        format: undefined,
        clientId: undefined,
        credentials: undefined,
        headers: undefined,
        timeout: undefined,
      },
      logout: undefined,
      storage: undefined,
      storageKey: undefined,
      refreshMargin: undefined,
      allowedOrigins: undefined,
      channel: undefined,
      fetch: undefined,
      onResume: undefined,
      restore: undefined,
      environment: {
        now: undefined,
        monotonicNow: undefined,
        setTimeout: undefined,
        clearTimeout: undefined,
        random: undefined,
        lock: undefined,
        createChannel: undefined,
      },
    };
    expectTypeOf(createTokenManager).toBeCallableWith(options);
    expectTypeOf(auth.logout).toBeCallableWith({ reason: undefined });
  });

  it('storage takes a name', () => {
    expectTypeOf<StorageName>().toEqualTypeOf<'localStorage' | 'sessionStorage' | 'memory'>();
    expectTypeOf(createTokenManager).toBeCallableWith({ refresh: { url: '/auth/refresh' }, storage: 'localStorage' });
    // @ts-expect-error not a storage name
    createTokenManager({ refresh: { url: '/auth/refresh' }, storage: 'indexedDB' });
  });
});

describe('the types that appear in public options are exported', () => {
  it('Lock, ChannelLike and TokenManagerEnvironment', () => {
    expectTypeOf<NonNullable<TokenManagerEnvironment['lock']>>().toEqualTypeOf<Lock>();
    expectTypeOf<
      ReturnType<NonNullable<TokenManagerEnvironment['createChannel']>>
    >().toEqualTypeOf<ChannelLike | null>();
    const lock: Lock = (_name, fn) => fn();
    expectTypeOf(lock('x', async () => 1)).toEqualTypeOf<Promise<number>>();
  });
});

describe('setTokens takes login responses as servers send them', () => {
  it('the OAuth 2.0 names, with expires_in as a number or a numeric string', () => {
    expectTypeOf(auth.setTokens).toBeCallableWith({ access_token: 'a', refresh_token: 'r', expires_in: 3600 });
    expectTypeOf(auth.setTokens).toBeCallableWith({ access_token: 'a', expires_in: '3600' });
    expectTypeOf<OAuthTokenResponse['expires_in']>().toEqualTypeOf<number | string | undefined>();
    // @ts-expect-error an access token is required
    auth.setTokens({ refresh_token: 'r' });
  });
});

describe('useAuthState(auth, selector?)', () => {
  it('returns the state, or what the selector picks', () => {
    expectTypeOf(useAuthState(auth)).toEqualTypeOf<AuthState>();
    expectTypeOf(useAuthState(typed)).toEqualTypeOf<AuthState<AppClaims>>();
    const name = useAuthState(typed, (state) => state.claims?.name);
    expectTypeOf(name).toEqualTypeOf<string | undefined>();
    const signedIn = useAuthState(auth, (state) => state.status === 'authenticated');
    expectTypeOf(signedIn).toEqualTypeOf<boolean>();
  });
});
