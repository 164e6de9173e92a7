// A small auth server for the demo and the browser tests: short-lived HS256 JWTs, rotating refresh tokens
// with reuse detection (RFC 9700 §4.14.2: a reused refresh token revokes its whole family), a logout
// endpoint (JSON or RFC 7009 form), and a protected API. Listens on 127.0.0.1 only.
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
  const send = (response, status, body) => {
    response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(body === undefined ? '' : JSON.stringify(body));
  };

  const routes = {
    'POST /auth/login': async (request, response) => {
      const { username } = await readBody(request);
      if (typeof username !== 'string' || username === '') return send(response, 400, { error: 'invalid_request' });
      counts.logins += 1;
      const family = randomUUID();
      families.set(family, { revoked: false });
      send(response, 200, issue(username, family));
    },
    'POST /auth/refresh': async (request, response) => {
      const body = await readBody(request);
      counts.refreshes += 1;
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
      const entry = refreshTokens.get(body.refresh_token);
      if (!entry || families.get(entry.family)?.revoked) {
        counts.refreshRejected += 1;
        return send(response, 401, { error: 'invalid_grant' });
      }
      if (entry.used) {
        // Reuse of a rotated refresh token: someone replayed it. Revoke the whole family.
        counts.reuseDetected += 1;
        counts.refreshRejected += 1;
        families.get(entry.family).revoked = true;
        return send(response, 401, { error: 'invalid_grant' });
      }
      entry.used = true;
      send(response, 200, issue(entry.user, entry.family));
    },
    'POST /auth/logout': async (request, response) => {
      const body = await readBody(request);
      counts.logouts += 1;
      const token = body.refresh_token ?? body.token;
      const entry = refreshTokens.get(token);
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
