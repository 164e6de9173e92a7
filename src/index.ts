export { createTokenManager } from './manager';
export { createMemoryStorage } from './storage';
export {
  TokenkeeperError,
  InvalidTokenError,
  RefreshRejectedError,
  RefreshFailedError,
  NotAuthenticatedError,
  ConfigurationError,
  StorageError,
  LogoutFailedError,
  HttpStatusError,
  TimeoutError,
  UnreadableResponseError,
  type TokenkeeperErrorOptions,
} from './errors';
export type {
  AuthState,
  EndpointOptions,
  LogoutContext,
  LogoutFn,
  LogoutOptions,
  RefreshContext,
  RefreshFn,
  TokenManager,
  TokenManagerEventName,
  TokenManagerEvents,
  TokenManagerOptions,
  TokenResponse,
  TokenStorage,
} from './types';
