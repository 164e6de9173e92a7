// A small auth server for the demo and the browser tests: short-lived HS256 JWTs, rotating refresh tokens
// with reuse detection (RFC 9700 §4.14.2: a reused refresh token revokes its whole family), a logout
// endpoint (JSON or RFC 7009 form), and a protected API. Listens on 127.0.0.1 only.
//
// Two ways to hold the refresh token:
// - JSON (the default): `POST /auth/login {"username"}` answers the refresh token in the body, and the client
//   sends it back in the body of `POST /auth/refresh` and `POST /auth/logout`.
// - HttpOnly cookie: `POST /auth/login {"username", "cookie": true}` answers `{access_token, expires_in}` with no
//   refresh token in the body and sets it as the cookie `REFRESH_COOKIE` (HttpOnly, SameSite=Strict,
//   Path=/auth), out of reach of page scripts. A refresh or logout whose body carries no refresh token uses the
//   cookie; a refresh rotates it (a new Set-Cookie), a logout revokes it and clears it (Max-Age=0).
//   Because the browser adds the cookie by itself, these requests must prove they come from the app's own
//   pages (CSRF): they must carry `CSRF_HEADER` (a page of another site cannot send a custom header without a
//   CORS preflight, which this server never grants), and an `Origin` header, when present, must be this
//   server's own. Otherwise they are answered 403 `{"error":"csrf"}` and nothing is rotated or revoked.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
};

const base64url = (value) => Buffer.from(value).toString('base64url');

/** The name of the cookie that holds the refresh token in cookie mode. */
export const REFRESH_COOKIE = 'tk_refresh';
/** The header (lower case, as node reports it) and value a cookie refresh or logout must carry, against CSRF. */
export const CSRF_HEADER = { name: 'x-requested-with', value: 'tokenkeeper' };
/** How long the refresh cookie lives, in seconds. */
const REFRESH_COOKIE_SECONDS = 14 * 24 * 60 * 60;

/**
 * The `Set-Cookie` value for the refresh token (`null`: clear it).
 *
 * `Secure` is left out only because this server speaks plain http:// on 127.0.0.1. A Secure cookie set over plain
 * http is kept only by browsers that count loopback as a secure origin (Chromium 156 does, for 127.0.0.1 and
 * localhost alike); RFC 6265bis lets a user agent drop it, and a demo over http should not depend on that
 * leniency. Production serves https:// and must add `Secure` (and may then use the `__Secure-` name prefix);
 * without it the refresh token can travel in clear text.
 */
function refreshCookie(refreshToken) {
  const attributes = ['HttpOnly', 'SameSite=Strict', 'Path=/auth'];
  if (refreshToken === null) return [`${REFRESH_COOKIE}=`, ...attributes, 'Max-Age=0'].join('; ');
  return [`${REFRESH_COOKIE}=${refreshToken}`, ...attributes, `Max-Age=${REFRESH_COOKIE_SECONDS}`].join('; ');
}

/** The value of the cookie `name` in a request's `Cookie` header, or `undefined`. */
function readCookie(request, name) {
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const separator = pair.indexOf('=');
    if (separator !== -1 && pair.slice(0, separator).trim() === name) return pair.slice(separator + 1).trim();
  }
  return undefined;
}

/**
 * Starts the server.
 * @param {object} [options]
 * @param {number} [options.accessTokenSeconds=5] lifetime of access tokens
 * @param {number} [options.port=0] 0 picks a free port
 * @param {string} [options.staticDir] serves files from this folder under `/`
 * @param {Record<string, string>} [options.staticRoutes] extra URL path → file path mappings
 */
export async function startAuthServer(options = {}) {
  const accessTokenSeconds = options.accessTokenSeconds ?? 5;
  const secret = randomBytes(32);
  const counts = {
    logins: 0,
    refreshes: 0,
    refreshRejected: 0,
    /**
     * Refresh requests whose body carried no refresh token, so the cookie was looked at (counted in
     * `refreshes` too): in cookie mode, every refresh; the library's `restore` calls among them.
     */
    cookieRefreshes: 0,
    /** Cookie refreshes and logouts refused for lack of the CSRF header or for a foreign `Origin` (403). */
    csrfRejected: 0,
    /** Refresh requests whose client went away before the answer (a closed tab, an aborted fetch): nothing rotated. */
    refreshAbandoned: 0,
    reuseDetected: 0,
    logouts: 0,
    apiCalls: 0,
    apiUnauthorized: 0,
    /** Calls to the API that carried no `Authorization` header at all. */
    apiWithoutToken: 0,
  };
  /** refresh token → { family, user, used } */
  const refreshTokens = new Map();
  /** family id → { revoked } */
  const families = new Map();
  /** Refresh requests held open by the test API, resolved by `releaseRefreshes()`: `{ clientGone, release }`. */
  let holdRefreshes = false;
  const held = [];
  let jti = 0;

  const sign = (payload) => {
    const body = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64url(JSON.stringify(payload))}`;
    return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
  };
  const verify = (token) => {
    const [header, payload, signature] = String(token).split('.');
    if (!signature) return null;
    const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
    if (expected !== signature) return null;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    if (claims.exp * 1000 <= Date.now()) return null;
    if (families.get(claims.fam)?.revoked) return null;
    return claims;
  };
  const origin = () => `http://127.0.0.1:${server.address().port}`;
  /** Whether a request that relies on the cookie came from this server's own pages (see CSRF above). */
  const isSameSite = (request) =>
    request.headers[CSRF_HEADER.name] === CSRF_HEADER.value &&
    (request.headers.origin === undefined || request.headers.origin === origin());
  const issue = (user, family) => {
    const now = Math.floor(Date.now() / 1000);
    jti += 1;
    const accessToken = sign({ sub: user, fam: family, iat: now, exp: now + accessTokenSeconds, jti: `a${jti}` });
    const refreshToken = `rt_${randomUUID()}`;
    refreshTokens.set(refreshToken, { family, user, used: false });
    return {
      access_token: accessToken,
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: accessTokenSeconds,
    };
  };

  const readBody = async (request) => {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString();
    if ((request.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) {
      return Object.fromEntries(new URLSearchParams(text));
    }
    try {
      return text ? JSON.parse(text) : {};
    } catch {
      return {};
    }
  };
  /** `cookie`: a refresh token to set as the cookie, or `null` to clear the cookie; `undefined` leaves it. */
  const send = (response, status, body, cookie) => {
    const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' };
    if (cookie !== undefined) headers['set-cookie'] = refreshCookie(cookie);
    response.writeHead(status, headers);
    response.end(body === undefined ? '' : JSON.stringify(body));
  };

  const routes = {
    'POST /auth/login': async (request, response) => {
      const { username, cookie } = await readBody(request);
      if (typeof username !== 'string' || username === '') return send(response, 400, { error: 'invalid_request' });
      counts.logins += 1;
      const family = randomUUID();
      families.set(family, { revoked: false });
      const tokens = issue(username, family);
      if (cookie !== true) return send(response, 200, tokens);
      const { refresh_token: refreshToken, ...rest } = tokens;
      send(response, 200, rest, refreshToken);
    },
    'POST /auth/refresh': async (request, response) => {
      const body = await readBody(request);
      counts.refreshes += 1;
      // No refresh token in the body: cookie mode (a token in the body wins over a cookie).
      const fromCookie = body.refresh_token === undefined;
      if (fromCookie) {
        counts.cookieRefreshes += 1;
        if (!isSameSite(request)) {
          counts.csrfRejected += 1;
          return send(response, 403, { error: 'csrf' });
        }
      }
      if (holdRefreshes) {
        const entry = { clientGone: false, release: () => {} };
        // 'close' before the answer is written means the connection went away (a closed tab, an aborted fetch).
        const onClose = () => {
          entry.clientGone = true;
        };
        response.once('close', onClose);
        await new Promise((resolve) => {
          entry.release = resolve;
          held.push(entry);
        });
        response.off('close', onClose);
      }
      // A client that went away while its request was held (a closed tab) never saw new tokens: rotate nothing.
      if (response.destroyed || response.socket?.destroyed !== false) {
        counts.refreshAbandoned += 1;
        return;
      }
      const refreshToken = fromCookie ? readCookie(request, REFRESH_COOKIE) : body.refresh_token;
      // A rejected cookie is cleared, so the browser stops sending it.
      const clearCookie = fromCookie && refreshToken !== undefined ? null : undefined;
      const entry = refreshTokens.get(refreshToken);
      if (!entry || families.get(entry.family)?.revoked) {
        counts.refreshRejected += 1;
        return send(response, 401, { error: 'invalid_grant' }, clearCookie);
      }
      if (entry.used) {
        // Reuse of a rotated refresh token: someone replayed it. Revoke the whole family.
        counts.reuseDetected += 1;
        counts.refreshRejected += 1;
        families.get(entry.family).revoked = true;
        return send(response, 401, { error: 'invalid_grant' }, clearCookie);
      }
      entry.used = true;
      const tokens = issue(entry.user, entry.family);
      if (!fromCookie) return send(response, 200, tokens);
      const { refresh_token: rotated, ...rest } = tokens;
      send(response, 200, rest, rotated);
    },
    'POST /auth/logout': async (request, response) => {
      const body = await readBody(request);
      counts.logouts += 1;
      // RFC 7009 form: `token` is the access token when the hint says so (a client that holds no refresh token).
      const bodyToken = body.refresh_token ?? (body.token_type_hint === 'access_token' ? undefined : body.token);
      const cookieToken = readCookie(request, REFRESH_COOKIE);
      if (bodyToken === undefined && cookieToken !== undefined) {
        // Cookie mode: a forged logout would end the user's session, so the same CSRF rule as for a refresh.
        if (!isSameSite(request)) {
          counts.csrfRejected += 1;
          return send(response, 403, { error: 'csrf' });
        }
        const entry = refreshTokens.get(cookieToken);
        if (entry) families.get(entry.family).revoked = true;
        return send(response, 204, undefined, null);
      }
      const entry = refreshTokens.get(bodyToken);
      if (entry) families.get(entry.family).revoked = true;
      send(response, 204);
    },
    'GET /api/me': async (request, response) => {
      counts.apiCalls += 1;
      if (request.headers.authorization === undefined) counts.apiWithoutToken += 1;
      const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
      const claims = match ? verify(match[1]) : null;
      if (!claims) {
        counts.apiUnauthorized += 1;
        return send(response, 401, { error: 'invalid_token' });
      }
      send(response, 200, { user: claims.sub });
    },
    'GET /stats': async (_request, response) => send(response, 200, counts),
  };

  const serveStatic = async (pathname, response) => {
    const mapped = options.staticRoutes?.[pathname];
    let file = mapped;
    if (!file && options.staticDir) {
      const relative = normalize(pathname === '/' ? '/index.html' : pathname).replace(/^(\.\.[/\\])+/, '');
      file = join(options.staticDir, relative);
      if (!file.startsWith(options.staticDir)) return false;
    }
    if (!file) return false;
    try {
      const content = await readFile(file);
      response.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
      response.end(content);
      return true;
    } catch {
      return false;
    }
  };

  const server = createServer(async (request, response) => {
    const { pathname } = new URL(request.url, 'http://127.0.0.1');
    const route = routes[`${request.method} ${pathname}`];
    try {
      if (route) return await route(request, response);
      if (request.method === 'GET' && (await serveStatic(pathname, response))) return;
      send(response, 404, { error: 'not_found' });
    } catch (error) {
      send(response, 500, { error: 'server_error', message: String(error?.message ?? error) });
    }
  });
  await new Promise((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address();

  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    /** Holds refresh requests open (after counting them) until `releaseRefreshes()`. */
    holdRefreshes() {
      holdRefreshes = true;
    },
    releaseRefreshes() {
      holdRefreshes = false;
      for (const entry of held.splice(0)) entry.release();
    },
    /** The refresh requests held open now, and whether each one's client has gone away meanwhile. */
    heldRefreshes() {
      return held.map((entry) => ({ clientGone: entry.clientGone }));
    },
    resetCounts() {
      for (const key of Object.keys(counts)) counts[key] = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
