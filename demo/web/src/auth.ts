/**
 * The page's one token manager, and the ky instance every API call goes through. This is the part to copy.
 */
import ky from 'ky';
import { createTokenManager } from 'tokenkeeper';
import { kyHooks } from 'tokenkeeper/ky';

/** The claims of the reference backend's access tokens (`ver`: the user's token version, see "log out everywhere"). */
export type DemoClaims = { sub: string; jti: string; ver?: number; iat: number; exp: number };

/** The library's default, passed explicitly because the countdown computes the refresh time from it. */
export const REFRESH_MARGIN_MS = 60_000;

export const auth = createTokenManager<DemoClaims>({
  refresh: { url: '/auth/refresh' },
  logout: { url: '/auth/logout' },
  // The tabs of this browser share one session: a login, refresh or logout in one reaches the others.
  storage: 'localStorage',
  refreshMargin: REFRESH_MARGIN_MS,
});

/** Adds `Authorization: Bearer`, and after a 401 refreshes once (shared with every other caller) and retries. */
export const api = ky.create({ hooks: kyHooks(auth) });

/** When the proactive refresh runs: `expiresAt - min(refreshMargin, lifetime / 2)`. */
export function refreshMarginFor(lifetimeMs: number): number {
  return Math.min(REFRESH_MARGIN_MS, lifetimeMs / 2);
}
