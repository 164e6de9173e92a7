// The demo server's modules (demo/server/*.mjs), typed for the tests. They are plain JavaScript without
// declaration files, so they are imported by a computed path and described here (as test/e2e/support/browser.ts
// does for the server it starts).
import { fileURLToPath } from 'node:url';

export type RotateResult =
  | { status: 'rotated'; user: string; family: string; version: number; graced: boolean }
  | { status: 'unknown' | 'revoked' | 'outdated' | 'reused' };

/** The store interface of demo/server/store.mjs. */
export interface AuthStore {
  denyAccessToken(jti: string, expiresAtMs: number): Promise<void>;
  isAccessTokenDenied(jti: string): Promise<boolean>;
  getUserVersion(user: string): Promise<number>;
  bumpUserVersion(user: string): Promise<number>;
  createFamily(input: {
    user: string;
    token: string;
    expiresAtMs: number;
  }): Promise<{ family: string; version: number }>;
  rotateRefreshToken(input: {
    token: string;
    nextToken: string;
    expiresAtMs: number;
    graceMs: number;
  }): Promise<RotateResult>;
  revokeFamilyOf(token: string): Promise<boolean>;
  countDenied(): Promise<number>;
  close(): Promise<void>;
}

export interface StoreModule {
  createMemoryStore(options?: { now?: () => number }): AuthStore;
  hashToken(token: string): string;
}

export interface RedisStoreModule {
  createRedisStore(options: {
    url: string;
    prefix?: string;
    now?: () => number;
    onError?: (error: Error) => void;
  }): Promise<AuthStore>;
}

export interface AuthServerOptions {
  accessTokenSeconds?: number;
  refreshTokenSeconds?: number;
  refreshGraceSeconds?: number;
  store?: AuthStore;
  secret?: string | Uint8Array;
  port?: number;
  staticDir?: string;
  staticRoutes?: Record<string, string>;
  issuer?: string;
  audience?: string;
  now?: () => number;
  log?: (line: string) => void;
}

export interface AuthServer {
  url: string;
  port: number;
  counts: Record<string, number>;
  store: AuthStore;
  holdRefreshes(): void;
  releaseRefreshes(): void;
  heldRefreshes(): { clientGone: boolean }[];
  resetCounts(): void;
  close(): Promise<void>;
}

export interface AppModule {
  startAuthServer(options?: AuthServerOptions): Promise<AuthServer>;
  REFRESH_COOKIE: string;
  CSRF_HEADER: { name: string; value: string };
  DEMO_PASSWORD: string;
}

/** The path of a file of demo/server/. */
export const demoServerPath = (file: string): string =>
  fileURLToPath(new URL(`../../demo/server/${file}`, import.meta.url));

// Computed specifiers: TypeScript types these imports as `any`, narrowed by the interfaces above.
export const loadApp = (): Promise<AppModule> => import(demoServerPath('app.mjs'));
export const loadStore = (): Promise<StoreModule> => import(demoServerPath('store.mjs'));
export const loadRedisStore = (): Promise<RedisStoreModule> => import(demoServerPath('redis-store.mjs'));
