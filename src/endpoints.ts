import { ConfigurationError, HttpStatusError, RefreshRejectedError, UnreadableResponseError } from './errors';
import type { Environment } from './environment';
import { isHeaderSafeToken } from './token';
import type { LogoutFn, RefreshFn, TokenResponse } from './types';

export const DEFAULT_ENDPOINT_TIMEOUT_MS = 10_000;

/** An endpoint's options after validation. */
export interface NormalizedEndpoint {
  /** `'refresh'` or `'logout'`: the option it came from, for messages. */
  readonly name: string;
  readonly url: string;
  readonly format: 'json' | 'oauth2';
  readonly clientId: string | undefined;
  readonly credentials: RequestCredentials | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

type EndpointEnvironment = Pick<Environment, 'fetch' | 'now' | 'pageOrigin'>;

function isAbsoluteUrl(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends one POST. The caller's `signal` carries the session's end and the timeout. A relative URL where there
 * is no page to resolve it against (server rendering) fails here, where it is used, not when it was given.
 */
function send(
  environment: EndpointEnvironment,
  endpoint: NormalizedEndpoint,
  init: RequestInit & { headers: Record<string, string> },
  signal: AbortSignal,
): Promise<Response> {
  if (environment.pageOrigin === null && !isAbsoluteUrl(endpoint.url)) {
    throw new ConfigurationError(
      `${endpoint.name}.url must be an absolute URL where there is no page origin (server rendering, React Native)`,
    );
  }
  return environment.fetch(endpoint.url, {
    ...init,
    method: 'POST',
    headers: { ...endpoint.headers, ...init.headers },
    ...(endpoint.credentials ? { credentials: endpoint.credentials } : {}),
    // A redirect would replay the refresh token to wherever it points: never followed, it fails the call.
    redirect: 'manual',
    signal,
  });
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds from `now`; `undefined` when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The error for an answer that is neither a success nor a rejection; redirects included (never followed). */
function statusError(what: string, response: Response, now: number): HttpStatusError {
  const redirected = response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400);
  void response.body?.cancel().catch(() => {});
  return new HttpStatusError(
    redirected
      ? `the ${what} endpoint answered with a redirect, which is not followed`
      : `the ${what} endpoint answered ${response.status}`,
    { status: response.status, retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now) },
  );
}

function formBody(fields: Record<string, string | undefined>): URLSearchParams {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) body.set(name, value);
  }
  return body;
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return JSON.parse(await response.text());
  } catch {
    return undefined;
  }
}

function pick(body: Record<string, unknown>, snake: string, camel: string): unknown {
  return body[snake] !== undefined ? body[snake] : body[camel];
}

/** Reads `access_token`/`accessToken`, `refresh_token`/`refreshToken`, `expires_in`/`expiresIn`. */
export function parseTokenResponseBody(body: unknown): TokenResponse {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new UnreadableResponseError('the refresh response body is not a JSON object');
  }
  const record = body as Record<string, unknown>;
  const accessToken = pick(record, 'access_token', 'accessToken');
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new UnreadableResponseError('the refresh response has no access_token');
  }
  if (!isHeaderSafeToken(accessToken)) {
    throw new UnreadableResponseError('the refresh response has an access_token that cannot be sent in a header');
  }
  const refreshToken = pick(record, 'refresh_token', 'refreshToken');
  if (refreshToken !== undefined && refreshToken !== null && typeof refreshToken !== 'string') {
    throw new UnreadableResponseError('the refresh response has a refresh_token that is not a string');
  }
  let expiresIn = pick(record, 'expires_in', 'expiresIn');
  // Some servers send expires_in as a numeric string.
  if (typeof expiresIn === 'string' && /^-?\d+(\.\d+)?$/.test(expiresIn)) expiresIn = Number(expiresIn);
  if (expiresIn !== undefined && expiresIn !== null && (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn))) {
    throw new UnreadableResponseError('the refresh response has an expires_in that is not a number of seconds');
  }
  // A negative lifetime is taken as none left: the token set (with its rotated refresh token) is kept, and the
  // next refresh waits for the backoff rather than coming at once.
  if (typeof expiresIn === 'number' && expiresIn < 0) expiresIn = 0;
  const response: TokenResponse = { accessToken };
  if (refreshToken !== undefined) response.refreshToken = refreshToken;
  if (typeof expiresIn === 'number') response.expiresIn = expiresIn;
  return response;
}

/**
 * The OAuth error code of a JSON error body (`invalid_grant`), when it has the shape of one (lower-case words
 * joined by `_`); anything else a server sends (HTML, a token, long text) never reaches a message.
 */
function describeOAuthError(body: unknown): string {
  const code = (body as { error?: unknown } | undefined)?.error;
  return typeof code === 'string' && /^[a-z][a-z_]{0,39}$/.test(code) ? ` (${code})` : '';
}

/** A `RefreshFn` that calls a refresh endpoint, as JSON or as RFC 6749 §6. */
export function createEndpointRefresh(endpoint: NormalizedEndpoint, environment: EndpointEnvironment): RefreshFn {
  return async ({ refreshToken, signal }) => {
    const token = refreshToken ?? undefined;
    const request =
      endpoint.format === 'oauth2'
        ? {
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: formBody({ grant_type: 'refresh_token', refresh_token: token, client_id: endpoint.clientId }),
          }
        : {
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(token === undefined ? {} : { refresh_token: token }),
          };
    const response = await send(environment, endpoint, request, signal);
    if (response.status === 400 || response.status === 401) {
      const body = await readJson(response);
      throw new RefreshRejectedError(`the server rejected the refresh: ${response.status}${describeOAuthError(body)}`);
    }
    if (!response.ok) throw statusError('refresh', response, environment.now());
    return parseTokenResponseBody(await readJson(response));
  };
}

/** A `LogoutFn` that calls a logout endpoint, as JSON or as RFC 7009 revocation; sent with `keepalive`. */
export function createEndpointLogout(endpoint: NormalizedEndpoint, environment: EndpointEnvironment): LogoutFn {
  return async ({ accessToken, refreshToken, signal }) => {
    let request: RequestInit & { headers: Record<string, string> };
    if (endpoint.format === 'oauth2') {
      const [token, hint] = refreshToken !== null ? [refreshToken, 'refresh_token'] : [accessToken, 'access_token'];
      if (token === null) return;
      request = {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: formBody({ token, token_type_hint: hint, client_id: endpoint.clientId }),
      };
    } else {
      request = {
        headers: {
          'Content-Type': 'application/json',
          ...(accessToken !== null ? { Authorization: `Bearer ${accessToken}` } : {}),
        },
        body: JSON.stringify(refreshToken === null ? {} : { refresh_token: refreshToken }),
      };
    }
    const response = await send(environment, endpoint, { ...request, keepalive: true }, signal);
    if (!response.ok) throw statusError('logout', response, environment.now());
    void response.body?.cancel().catch(() => {});
  };
}
