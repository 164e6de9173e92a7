// The floor for tokenkeeper's core: the least a hand-written token holder does. It keeps one access token,
// reads its expiry with jwt-decode, shares one refresh among concurrent callers, and wraps fetch to add the
// bearer header and retry once after a 401. No storage, no tabs, no logout call, no origin check, no backoff.
import { jwtDecode } from 'jwt-decode';

const REFRESH_MARGIN_MS = 60_000;

/** `refreshTokens(refreshToken)` resolves `{ accessToken, refreshToken }`; `fetch` sends the requests. */
export function createTokenHolder({ refreshTokens, fetch = globalThis.fetch }) {
  let accessToken = null;
  let refreshToken = null;
  let expiresAtMs = 0;
  let refreshing = null;

  const setTokens = (tokens) => {
    accessToken = tokens.accessToken;
    refreshToken = tokens.refreshToken ?? refreshToken;
    expiresAtMs = (jwtDecode(accessToken).exp ?? Number.POSITIVE_INFINITY) * 1000;
  };

  const refresh = () => {
    refreshing ??= refreshTokens(refreshToken)
      .then((tokens) => {
        setTokens(tokens);
        return accessToken;
      })
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  };

  const getAccessToken = async () => {
    if (accessToken === null) return null;
    return expiresAtMs - Date.now() > REFRESH_MARGIN_MS ? accessToken : refresh();
  };

  const authFetch = async (input, init = {}) => {
    const send = (token) => {
      const headers = new Headers(init.headers);
      if (token) headers.set('Authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    };
    const token = await getAccessToken();
    const response = await send(token);
    return response.status === 401 && token ? send(await refresh()) : response;
  };

  return { setTokens, getAccessToken, refresh, fetch: authFetch };
}
