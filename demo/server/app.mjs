// The reference backend of tokenkeeper's demo: every route an app needs to log users in and, above all, out, with
// JWT access tokens. Listens on 127.0.0.1 only. Read it top to bottom; README.md lists the API and what to change
// before production.
//
//   POST /auth/login               {username, password[, cookie]} → access token + refresh token (or its cookie)
//   POST /auth/refresh             rotates the refresh token: single use, reuse revokes the family, grace period
//   POST /auth/logout              revokes the refresh family; the access token's jti goes on the deny-list
//   POST /auth/logout-everywhere   bumps the user's token version: every earlier token and family dies
//   GET  /api/me                   the protected API: 401 with the reason (missing, malformed, expired, denied, outdated)
//   GET  /api/stats                the server's counters, for the demo page
//   POST /demo/break-refresh       demo only: /auth/refresh answers 503 for a while, to show the client's backoff
//   POST /demo/expire-token        demo only: the API answers 401 (expired) to the Bearer token sent, from now on
//
// Two ways to hold the refresh token:
// - JSON (the default): the login answers it in the body; the client sends it back in the body of a refresh or
//   logout (JSON `{refresh_token}`, or the OAuth forms of RFC 6749 §6 and RFC 7009).
// - HttpOnly cookie (`cookie: true` at login): the login sets it as the cookie `tk_refresh` (HttpOnly,
//   SameSite=Strict, Path=/auth), out of reach of the page's scripts. A refresh or logout whose body carries no
//   refresh token uses the cookie. Because the browser adds the cookie by itself, such a request must prove it
//   comes from this server's own pages (CSRF): it must carry `x-requested-with: tokenkeeper` (another site cannot
//   send a custom header without a CORS preflight, which this server never grants) and an `Origin` header, when
//   present, must be this server's own. Otherwise it is answered 403 `{"error":"csrf"}` and nothing changes.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { HttpError, readBearerToken, readBody, readCookie, sendJson, serveStatic } from './http.mjs';
import { createMemoryStore } from './store.mjs';
import { createAccessTokens, createRandomSecret } from './tokens.mjs';

/** @typedef {import('./store.mjs').AuthStore} AuthStore */
/** @typedef {import('./tokens.mjs').AccessClaims} AccessClaims */
/** @typedef {import('./tokens.mjs').RejectReason} RejectReason */

/** The name of the cookie that holds the refresh token in cookie mode. */
export const REFRESH_COOKIE = 'tk_refresh';
/** The header (lower case, as Node reports it) and value a cookie refresh or logout must carry, against CSRF. */
export const CSRF_HEADER = { name: 'x-requested-with', value: 'tokenkeeper' };
/** Every user of the demo has this password. A real server checks a password hash (scrypt, argon2) instead. */
export const DEMO_PASSWORD = 'demo';
/** Request bodies larger than this are refused with 413: logins and refreshes are a few hundred bytes. */
const MAX_BODY_BYTES = 16 * 1024;
const MAX_USERNAME_LENGTH = 100;
/**
 * How long after an access token's `exp` its `jti` stays on the deny-list. A store may expire entries on its own
 * clock (Redis does), and every server instance checks `exp` on its own: were the entry dropped right at `exp`, a
 * server whose clock runs behind the store's (or behind the instance that logged the token out) would take the
 * token for valid and not denied in the seconds before its `exp` on that server's clock. The margin covers clocks
 * that disagree by up to this much.
 */
const DENY_LIST_MARGIN_SECONDS = 60;

/**
 * @typedef {object} AuthServerOptions
 * @property {number} [accessTokenSeconds] Lifetime of access tokens. @default 20
 * @property {number} [refreshTokenSeconds] Lifetime of a refresh token (and of the refresh cookie); each rotation
 *   starts a new one. @default 1209600 (14 days)
 * @property {number} [refreshGraceSeconds] How long after a rotation the old refresh token may be presented again,
 *   while its successor is unused, without counting as reuse (see `rotateRefreshToken` in store.mjs). 0 turns the
 *   grace off: every second use is reuse. @default 10
 * @property {AuthStore} [store] Where deny-list, families and versions live. @default createMemoryStore()
 *   A store passed in is left open by `close()`: its owner closes it.
 * @property {string | Uint8Array} [secret] The HS256 key, at least 32 bytes; every server sharing a store must
 *   share it. @default random per process
 * @property {number} [port] 0 picks a free port. @default 0
 * @property {string} [staticDir] Serves the files of this folder under `/`.
 * @property {Record<string, string>} [staticRoutes] Extra URL path → file mappings, served before `staticDir`.
 * @property {string} [issuer] The `iss` claim. @default 'tokenkeeper-demo'
 * @property {string} [audience] The `aud` claim. @default 'tokenkeeper-demo-api'
 * @property {() => number} [now] The clock, in ms since the epoch; tests pass a fake one. @default Date.now
 * @property {(line: string) => void} [log] Notable events (reuse detected, logout everywhere, server errors);
 *   never a token. @default nothing
 */

/**
 * Checks and completes the options once, field by field.
 * @param {AuthServerOptions} options
 */
function normalizeOptions(options) {
  const seconds = (name, value, fallback, { integer = true, min = 1 } = {}) => {
    const result = value ?? fallback;
    if (
      typeof result !== 'number' ||
      !Number.isFinite(result) ||
      result < min ||
      (integer && !Number.isInteger(result))
    ) {
      throw new TypeError(`${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${String(value)}`);
    }
    return result;
  };
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError(`port must be an integer from 0 to 65535, got ${String(options.port)}`);
  }
  return Object.freeze({
    accessTokenSeconds: seconds('accessTokenSeconds', options.accessTokenSeconds, 20),
    refreshTokenSeconds: seconds('refreshTokenSeconds', options.refreshTokenSeconds, 14 * 24 * 60 * 60),
    refreshGraceSeconds: seconds('refreshGraceSeconds', options.refreshGraceSeconds, 10, { integer: false, min: 0 }),
    store: options.store,
    secret: options.secret ?? createRandomSecret(),
    port,
    staticDir: options.staticDir,
    staticRoutes: options.staticRoutes,
    issuer: options.issuer ?? 'tokenkeeper-demo',
    audience: options.audience ?? 'tokenkeeper-demo-api',
    now: options.now ?? (() => Date.now()),
    log: options.log ?? (() => {}),
  });
}

/** A new refresh token: 256 random bits. Opaque (not a JWT): only the store can say whether it is good. */
const createRefreshToken = () => `rt_${randomBytes(32).toString('base64url')}`;

/** Compares two strings in a time that does not depend on where they differ. */
const sameSecret = (given, expected) =>
  timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());

/** A non-empty string field of a request body, or 400 naming it. */
function requireString(body, name, maxLength = MAX_BODY_BYTES) {
  const value = body[name];
  if (typeof value !== 'string' || value === '' || value.length > maxLength) {
    throw new HttpError(
      400,
      'invalid_request',
      `${name} must be a non-empty string of at most ${maxLength} characters`,
    );
  }
  return value;
}

/**
 * Starts the server on 127.0.0.1.
 * @param {AuthServerOptions} [options]
 * @example
 * const server = await startAuthServer({ accessTokenSeconds: 20, port: 5173 });
 * console.log(server.url); // http://127.0.0.1:5173
 * await server.close();
 */
export async function startAuthServer(options = {}) {
  const settings = normalizeOptions(options);
  const { now, log } = settings;
  const store = settings.store ?? createMemoryStore({ now });
  const ownsStore = settings.store === undefined;
  const tokens = createAccessTokens({
    secret: settings.secret,
    accessTokenSeconds: settings.accessTokenSeconds,
    issuer: settings.issuer,
    audience: settings.audience,
    now,
  });
  const graceMs = settings.refreshGraceSeconds * 1000;

  /** What happened, for `GET /api/stats`, the demo page and the tests. All start at 0; `resetCounts()` zeroes them. */
  const counts = {
    logins: 0,
    /** Refresh requests, whatever their outcome (counted before the CSRF check and any hold). */
    refreshes: 0,
    /** Refreshes answered 401 (unknown, revoked, outdated or reused token, or none at all). */
    refreshRejected: 0,
    /** Rotated refresh tokens presented again outside the grace period: each revoked its family. */
    reuseDetected: 0,
    /** Logout requests (counted before the CSRF check). */
    logouts: 0,
    logoutsEverywhere: 0,
    /** Calls to `GET /api/me`. */
    apiCalls: 0,
    /** Calls to `GET /api/me` answered 401. */
    apiUnauthorized: 0,
    /** Calls to the API that carried no `Authorization` header at all. */
    apiWithoutToken: 0,
    /** Refresh requests whose body carried no refresh token, so the cookie was looked at. */
    cookieRefreshes: 0,
    /** Cookie refreshes and logouts refused for lack of the CSRF header or for a foreign `Origin` (403). */
    csrfRejected: 0,
    /** Refresh requests whose client went away while the test API held them: nothing rotated. */
    refreshAbandoned: 0,
    /** Refresh requests answered 503 while the demo had broken the endpoint. */
    refreshFailures: 0,
    /** Access tokens put on the deny-list by a logout. */
    deniedTokens: 0,
  };
  /** Until when (ms since the epoch) `/auth/refresh` answers 503; set by `POST /demo/break-refresh`. */
  let refreshBrokenUntil = 0;
  /**
   * Demo only: jti → exp (ms) of access tokens that `POST /demo/expire-token` made the API treat as expired, so
   * the page can show many calls meeting a 401 at once and sharing one refresh. Kept in this process only.
   */
  const expiredEarly = new Map();
  /** Refresh requests held open by the test API until `releaseRefreshes()`: `{ clientGone, release }`. */
  let holdingRefreshes = false;
  const held = [];

  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(undefined);
    });
  });
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  const url = `http://127.0.0.1:${port}`;
  /** The origins of this server's own pages, for the CSRF rule (`localhost` resolves here too). */
  const ownOrigins = new Set([url, `http://localhost:${port}`]);

  // ---- Cookies and CSRF --------------------------------------------------------------------------------------

  /**
   * The `Set-Cookie` value for the refresh token (`null`: clear it).
   *
   * `Secure` is left out only because this server speaks plain http:// on 127.0.0.1: RFC 6265bis lets a browser
   * drop a Secure cookie set over http, and a demo should not depend on loopback leniency. Production serves
   * https:// and must add `Secure` (and may then use the `__Host-`/`__Secure-` name prefixes); without it the
   * refresh token can travel in clear text.
   */
  const refreshCookie = (refreshToken) => {
    const attributes = ['HttpOnly', 'SameSite=Strict', 'Path=/auth'];
    if (refreshToken === null) return [`${REFRESH_COOKIE}=`, ...attributes, 'Max-Age=0'].join('; ');
    return [`${REFRESH_COOKIE}=${refreshToken}`, ...attributes, `Max-Age=${settings.refreshTokenSeconds}`].join('; ');
  };
  const cookieHeader = (refreshToken) => ({ 'set-cookie': refreshCookie(refreshToken) });

  /** Refuses (403) a request whose `Origin` (when there is one) is not this server's own: another site's page. */
  const requireOwnOrigin = (request) => {
    const origin = request.headers.origin;
    if (origin !== undefined && !ownOrigins.has(origin)) throw new HttpError(403, 'csrf');
  };

  /** Refuses (403) a request that relies on the cookie unless it came from this server's own pages. */
  const requireSameSite = (request) => {
    const origin = request.headers.origin;
    if (request.headers[CSRF_HEADER.name] === CSRF_HEADER.value && (origin === undefined || ownOrigins.has(origin))) {
      return;
    }
    counts.csrfRejected += 1;
    // No description: the answer does not tell a forger which of the two checks failed.
    throw new HttpError(403, 'csrf');
  };

  // ---- Tokens ------------------------------------------------------------------------------------------------

  /** The token answer of RFC 6749 §5.1; in cookie mode the refresh token goes into the cookie instead. */
  const sendTokens = (response, { accessToken, refreshToken, inCookie }) => {
    const body = { access_token: accessToken, token_type: 'Bearer', expires_in: settings.accessTokenSeconds };
    if (inCookie) return sendJson(response, 200, body, cookieHeader(refreshToken));
    sendJson(response, 200, { ...body, refresh_token: refreshToken });
  };

  /**
   * Who sends this request: the claims of a valid, not denied, not outdated Bearer token, or why not.
   * @returns {Promise<{ claims: AccessClaims } | { reason: RejectReason }>}
   */
  const authenticate = async (request) => {
    const token = readBearerToken(request);
    if (token === undefined) return { reason: 'missing' };
    const verified = await tokens.verify(token);
    if (!verified.ok) return { reason: verified.reason };
    const { claims } = verified;
    const [denied, version] = await Promise.all([
      store.isAccessTokenDenied(claims.jti),
      store.getUserVersion(claims.sub),
    ]);
    if (denied) return { reason: 'denied' };
    if (expiredEarly.has(claims.jti)) return { reason: 'expired' };
    if (claims.ver < version) return { reason: 'outdated' };
    return { claims };
  };

  /** The 401 of RFC 6750 §3, with the reason in the body for the demo page (and for people debugging). */
  const unauthorized = (reason) =>
    new HttpError(401, 'invalid_token', `the access token is ${reason}`, {
      // Without credentials, RFC 6750 §3.1 says to send no error code in the header: the client just has none.
      'www-authenticate':
        reason === 'missing'
          ? 'Bearer realm="tokenkeeper-demo"'
          : 'Bearer realm="tokenkeeper-demo", error="invalid_token"',
    });

  // ---- Routes ------------------------------------------------------------------------------------------------

  /** URL path → method → handler. A handler throws `HttpError` for a 4xx; anything else thrown is a 500. */
  const routes = {
    '/auth/login': {
      async POST(request, response) {
        const body = await readBody(request, MAX_BODY_BYTES);
        const username = requireString(body, 'username', MAX_USERNAME_LENGTH);
        const password = requireString(body, 'password');
        if (!sameSecret(password, DEMO_PASSWORD)) {
          throw new HttpError(401, 'invalid_credentials', 'wrong username or password (the demo password is "demo")');
        }
        counts.logins += 1;
        const refreshToken = createRefreshToken();
        const { version } = await store.createFamily({
          user: username,
          token: refreshToken,
          expiresAtMs: now() + settings.refreshTokenSeconds * 1000,
        });
        const access = await tokens.issue({ user: username, version });
        sendTokens(response, { accessToken: access.token, refreshToken, inCookie: body.cookie === true });
      },
    },

    '/auth/refresh': {
      async POST(request, response) {
        const body = await readBody(request, MAX_BODY_BYTES);
        counts.refreshes += 1;
        if (body.grant_type !== undefined && body.grant_type !== 'refresh_token') {
          throw new HttpError(400, 'unsupported_grant_type', 'grant_type must be refresh_token');
        }
        // No refresh token in the body: cookie mode (a token in the body wins over a cookie).
        const fromCookie = body.refresh_token === undefined;
        if (fromCookie) {
          counts.cookieRefreshes += 1;
          requireSameSite(request);
        }
        if (now() < refreshBrokenUntil) {
          counts.refreshFailures += 1;
          // No Retry-After: the demo wants the client's own backoff to show, not a wait the server dictates.
          throw new HttpError(503, 'temporarily_unavailable', 'the demo broke the refresh endpoint for a while');
        }
        if (holdingRefreshes) await holdUntilReleased(response);
        // A client that went away while its request was held (a closed tab) never saw new tokens: rotate nothing.
        if (response.destroyed || response.socket?.destroyed !== false) {
          counts.refreshAbandoned += 1;
          return;
        }

        const refreshToken = fromCookie
          ? readCookie(request, REFRESH_COOKIE)
          : requireString(body, 'refresh_token', MAX_BODY_BYTES);
        // A refused cookie is cleared, so that the browser stops sending it.
        const rejectHeaders = fromCookie && refreshToken !== undefined ? cookieHeader(null) : {};
        const reject = (description) => {
          counts.refreshRejected += 1;
          return new HttpError(401, 'invalid_grant', description, rejectHeaders);
        };
        if (refreshToken === undefined || refreshToken === '') throw reject('no refresh token');

        const nextToken = createRefreshToken();
        const result = await store.rotateRefreshToken({
          token: refreshToken,
          nextToken,
          expiresAtMs: now() + settings.refreshTokenSeconds * 1000,
          graceMs,
        });
        // From here, a client that goes away has lost its answer: the grace period lets it present the old token
        // once more.
        if (result.status === 'reused') {
          counts.reuseDetected += 1;
          log('refresh-token reuse detected: the family is revoked');
          throw reject('the refresh token was already used; its session is revoked');
        }
        if (result.status !== 'rotated') throw reject(`the refresh token is ${result.status}`);
        const access = await tokens.issue({ user: result.user, version: result.version });
        sendTokens(response, { accessToken: access.token, refreshToken: nextToken, inCookie: fromCookie });
      },
    },

    '/auth/logout': {
      async POST(request, response) {
        const body = await readBody(request, MAX_BODY_BYTES);
        counts.logouts += 1;
        // RFC 7009 sends one `token` with a `token_type_hint`; the hint is only a hint (§2.1), and this server's
        // two kinds cannot be confused anyway: access tokens are JWTs, refresh tokens start with `rt_`.
        const formToken = typeof body.token === 'string' ? body.token : undefined;
        const isJwt = formToken?.split('.').length === 3;
        const accessToken = readBearerToken(request) ?? (isJwt ? formToken : undefined);
        const bodyRefreshToken = body.refresh_token ?? (isJwt ? undefined : formToken);
        const cookieToken = readCookie(request, REFRESH_COOKIE);
        const useCookie = bodyRefreshToken === undefined && cookieToken !== undefined;
        // A forged logout would end the user's session: the same CSRF rule as for a cookie refresh.
        if (useCookie) requireSameSite(request);

        const refreshToken = useCookie ? cookieToken : bodyRefreshToken;
        if (typeof refreshToken === 'string' && refreshToken !== '') await store.revokeFamilyOf(refreshToken);
        if (accessToken !== undefined) {
          // Only a token this server signed and that is still alive is worth remembering: until its `exp`, and a
          // margin for clocks that disagree.
          const verified = await tokens.verify(accessToken);
          if (verified.ok) {
            await store.denyAccessToken(verified.claims.jti, (verified.claims.exp + DENY_LIST_MARGIN_SECONDS) * 1000);
            counts.deniedTokens += 1;
          }
        }
        // 200 even for an unknown token (RFC 7009 §2.2): the client's aim, no valid token, is met either way.
        sendJson(response, 200, {}, useCookie ? cookieHeader(null) : {});
      },
    },

    '/auth/logout-everywhere': {
      async POST(request, response) {
        // Needs a valid access token, in a header: a cross-site page cannot send one, so no CSRF check is needed.
        const who = await authenticate(request);
        if ('reason' in who) throw unauthorized(who.reason);
        const version = await store.bumpUserVersion(who.claims.sub);
        counts.logoutsEverywhere += 1;
        log(`logout everywhere: token version ${version} for one user`);
        const hadCookie = readCookie(request, REFRESH_COOKIE) !== undefined;
        sendJson(response, 200, { version }, hadCookie ? cookieHeader(null) : {});
      },
    },

    '/api/me': {
      async GET(request, response) {
        counts.apiCalls += 1;
        if (request.headers.authorization === undefined) counts.apiWithoutToken += 1;
        const who = await authenticate(request);
        if ('reason' in who) {
          counts.apiUnauthorized += 1;
          const error = unauthorized(who.reason);
          return sendJson(response, 401, { error: 'invalid_token', reason: who.reason }, error.headers);
        }
        sendJson(response, 200, { user: who.claims.sub, claims: who.claims });
      },
    },

    '/api/stats': {
      async GET(_request, response) {
        sendJson(response, 200, {
          ...counts,
          refreshBrokenUntil: now() < refreshBrokenUntil ? refreshBrokenUntil : null,
          tokenTtl: settings.accessTokenSeconds,
        });
      },
    },

    // Demo only, so that the page can show the client backing off. A real server has no such route.
    '/demo/break-refresh': {
      async POST(request, response) {
        // No credentials guard it, and a form posted by another site needs no preflight (an empty form is `{}`):
        // only this server's pages, or a tool that sends no Origin, may break the endpoint.
        requireOwnOrigin(request);
        const body = await readBody(request, MAX_BODY_BYTES);
        const seconds = body.seconds ?? 15;
        if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0 || seconds > 600) {
          throw new HttpError(400, 'invalid_request', 'seconds must be a number from 0 to 600');
        }
        refreshBrokenUntil = now() + seconds * 1000;
        sendJson(response, 200, { until: refreshBrokenUntil });
      },
    },

    // Demo only, so that the page can show concurrent 401s sharing one refresh: the API treats the Bearer token
    // sent as expired from now on (as if its exp had passed), while the refresh token stays good.
    '/demo/expire-token': {
      async POST(request, response) {
        const who = await authenticate(request);
        if ('reason' in who) throw unauthorized(who.reason);
        const time = now();
        for (const [jti, exp] of expiredEarly) if (exp <= time) expiredEarly.delete(jti);
        expiredEarly.set(who.claims.jti, who.claims.exp * 1000);
        sendJson(response, 200, {});
      },
    },
  };

  /** Test API: parks a refresh request until `releaseRefreshes()`, noting whether its client goes away meanwhile. */
  const holdUntilReleased = async (response) => {
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
  };

  // ---- Dispatch ----------------------------------------------------------------------------------------------

  server.on('request', async (request, response) => {
    // What a log line may name: the path, never the query or an absolute URL's user:password.
    let pathname = '(unparsable)';
    try {
      pathname = parsePath(request.url ?? '/', url);
      const route = Object.hasOwn(routes, pathname) ? routes[pathname] : undefined;
      if (route) {
        const handler = Object.hasOwn(route, request.method ?? '') ? route[request.method ?? ''] : undefined;
        if (!handler) {
          throw new HttpError(405, 'method_not_allowed', `use ${Object.keys(route).join(', ')}`, {
            allow: Object.keys(route).join(', '),
          });
        }
        return await handler(request, response);
      }
      if (request.method === 'GET' || request.method === 'HEAD') {
        const where = { dir: settings.staticDir, routes: settings.staticRoutes };
        if (await serveStatic(response, pathname, where)) return;
        if (pathname === '/') return sendHomePage(response);
      }
      throw new HttpError(404, 'not_found', `no route for ${request.method} ${pathname}`);
    } catch (error) {
      if (error instanceof HttpError) {
        // After a 413 the rest of the upload is never read: close the connection rather than drain it.
        const close = error.status === 413 ? { connection: 'close' } : {};
        const body = { error: error.error, ...(error.description && { error_description: error.description }) };
        return sendJson(response, error.status, body, { ...error.headers, ...close });
      }
      log(`server error on ${request.method} ${pathname}: ${error?.stack ?? error}`);
      sendJson(response, 500, { error: 'server_error' });
    }
  });

  /** Test API: holds refresh requests open (after counting them) until `releaseRefreshes()`. */
  const holdRefreshes = () => {
    holdingRefreshes = true;
  };
  const releaseRefreshes = () => {
    holdingRefreshes = false;
    for (const entry of held.splice(0)) entry.release();
  };
  let closing;
  /** Stops listening, drops open connections, and closes the store if the server created it. */
  const close = () => {
    closing ??= (async () => {
      releaseRefreshes();
      await new Promise((resolve) => {
        server.close(() => resolve(undefined));
        server.closeAllConnections();
      });
      if (ownsStore) await store.close();
    })();
    return closing;
  };

  return {
    url,
    port,
    /** The counters of `GET /api/stats` (a live object). */
    counts,
    store,
    holdRefreshes,
    releaseRefreshes,
    /** Test API: the refresh requests held open now, and whether each one's client has gone away meanwhile. */
    heldRefreshes: () => held.map((entry) => ({ clientGone: entry.clientGone })),
    resetCounts() {
      for (const key of Object.keys(counts)) counts[key] = 0;
    },
    close,
  };
}

/**
 * The path of a request target: `/a/b` of `/a/b?c`, or of the absolute form `http://host/a/b` (RFC 9112 §3.2.2).
 * A target that is no URL (`http://[::1/`, a port out of range) is the client's error: 400, not a server error.
 */
function parsePath(target, base) {
  try {
    return new URL(target, base).pathname;
  } catch {
    throw new HttpError(400, 'invalid_request', 'the request target is not a valid URL');
  }
}

/** `/` when no page is built: says what this is and how to get the page. */
function sendHomePage(response) {
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  response.end(`<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>tokenkeeper demo server</title>
<h1>tokenkeeper demo server</h1>
<p>The API is running, but the demo page is not built. Run <code>npm run demo</code> to build it and start again.</p>
<p>The API: <code>POST /auth/login</code>, <code>/auth/refresh</code>, <code>/auth/logout</code>,
<code>/auth/logout-everywhere</code>, <code>GET /api/me</code>, <code>/api/stats</code> (see demo/server/README.md).</p>
</html>
`);
}
