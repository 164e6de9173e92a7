// axios-auth-refresh with the axios it plugs into: the library plus what it needs.
export * from 'axios-auth-refresh';
export { default as createAuthRefreshInterceptor } from 'axios-auth-refresh';
export * from 'axios';
export { default as axios } from 'axios';
