// Hand-written bearer wrappers around fetch, the floors `auth.fetch` is timed against. They know one token and
// nothing else: no expiry, no refresh, no origin check, no 401 retry.

/** The wrapper most people write: any `HeadersInit` the caller passes is kept, through `new Headers`. */
export function createHeadersWrapper(fetch, token) {
  return async (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('Authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
}

/** A leaner one that spreads a plain object of headers: it drops headers given as a `Headers` or as pairs. */
export function createPlainWrapper(fetch, token) {
  return async (input, init = {}) =>
    fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } });
}
