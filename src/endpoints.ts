import { ConfigurationError, HttpStatusError, RefreshRejectedError, UnreadableResponseError } from './errors';
import type { Environment } from './environment';
import { isHeaderSafeToken, isRecord, pick } from './token';
import type { LogoutFn, RefreshFn, TokenResponse } from './types';

export const DEFAULT_ENDPOINT_TIMEOUT_MS = 10_000;

/** An endpoint's options after validation. */
export interface NormalizedEndpoint {
  readonly url: string;
  readonly format: 'json' | 'oauth2';
  readonly clientId: string | undefined;
  readonly credentials: RequestCredentials | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

type EndpointEnvironment = Pick<Environment, 'fetch' | 'now' | 'pageOrigin'>;

/** Fields of a request body; those left `undefined` are not sent. */
type Fields = Record<string, string | undefined>;

/** Reads the body as JSON; `undefined` when it is not. */
const readJson = (response: Response): Promise<unknown> => response.json().catch(() => undefined);

const discardBody = (response: Response): void => {
  void response.body?.cancel().catch(() => {});
};

/**
 * POSTs `fields` as JSON, or as a form with `client_id` for `format: 'oauth2'`, and returns a successful
 * answer; any other answer throws: a refresh answered 400 or 401 `RefreshRejectedError`, else `HttpStatusError`.
 * The caller's `signal` carries the session's end and the timeout. A relative URL where there is no page to
 * resolve it against (server rendering) fails here, where it is used, not when it was given.
 */
async function post(
  environment: EndpointEnvironment,
  endpoint: NormalizedEndpoint,
  name: 'refresh' | 'logout',
  signal: AbortSignal,
  fields: Fields,
  headers?: Record<string, string>,
): Promise<Response> {
  const { url, clientId } = endpoint;
  if (environment.pageOrigin === null) {
    try {
      new URL(url);
    } catch {
      throw new ConfigurationError(`${name}.url must be an absolute URL where there is no page origin`);
    }
  }
  const form = endpoint.format === 'oauth2';
  const response = await environment.fetch(url, {
    method: 'POST',
    headers: {
      ...endpoint.headers,
      'Content-Type': form ? 'application/x-www-form-urlencoded' : 'application/json',
      ...headers,
    },
    body: form
      ? new URLSearchParams(
          Object.entries({ ...fields, client_id: clientId }).filter((field) => field[1] !== undefined) as string[][],
        )
      : JSON.stringify(fields),
    ...(endpoint.credentials && { credentials: endpoint.credentials }),
    // Logout requests outlive the page that sends them.
    keepalive: name === 'logout',
    // A redirect would replay the refresh token to wherever it points: never followed, it fails the call.
    redirect: 'manual',
    signal,
  });
  const { status } = response;
  if (response.ok) return response;
  if (name === 'refresh' && (status === 400 || status === 401)) {
    // The OAuth error code (`invalid_grant`), only when it has the shape of one: anything else a server sends
    // (HTML, a token, long text) never reaches a message.
    const code = ((await readJson(response)) as { error?: unknown } | undefined)?.error;
    throw new RefreshRejectedError(
      `the server rejected the refresh: ${status}${typeof code === 'string' && /^[a-z][a-z_]{0,39}$/.test(code) ? ` (${code})` : ''}`,
    );
  }
  discardBody(response);
  // `Retry-After` as seconds or an HTTP date.
  const retryAfter = response.headers.get('retry-after')?.trim() ?? '';
  const retryAfterMs = /^\d+$/.test(retryAfter)
    ? Number(retryAfter) * 1000
    : Math.max(0, Date.parse(retryAfter) - environment.now());
  throw new HttpStatusError(
    `the ${name} endpoint answered ${response.type === 'opaqueredirect' || (status >= 300 && status < 400) ? 'a redirect, not followed' : status}`,
    { status, retryAfterMs: Number.isNaN(retryAfterMs) ? undefined : retryAfterMs },
  );
}

/** A `RefreshFn` that calls a refresh endpoint, as JSON or as RFC 6749 §6. */
export function createEndpointRefresh(endpoint: NormalizedEndpoint, environment: EndpointEnvironment): RefreshFn {
  return async ({ refreshToken, signal }) => {
    const refresh_token = refreshToken ?? undefined;
    const response = await post(
      environment,
      endpoint,
      'refresh',
      signal,
      endpoint.format === 'oauth2' ? { grant_type: 'refresh_token', refresh_token } : { refresh_token },
    );
    // The body may use `access_token`/`accessToken`, `refresh_token`/`refreshToken`, `expires_in`/`expiresIn`.
    const body = await readJson(response);
    const unreadable = (what: string): UnreadableResponseError =>
      new UnreadableResponseError(`the refresh response ${what}`);
    if (!isRecord(body)) throw unreadable('is not a JSON object');
    const accessToken = pick(body, 'access_token', 'accessToken');
    if (!isHeaderSafeToken(accessToken)) throw unreadable('has no access_token that can be sent in a header');
    const newRefreshToken = pick(body, 'refresh_token', 'refreshToken');
    if (newRefreshToken != null && typeof newRefreshToken !== 'string') {
      throw unreadable('has a refresh_token that is not a string');
    }
    let expiresIn = pick(body, 'expires_in', 'expiresIn');
    // Some servers send expires_in as a numeric string.
    if (typeof expiresIn === 'string' && /^-?\d+(\.\d+)?$/.test(expiresIn)) expiresIn = Number(expiresIn);
    if (expiresIn != null && !Number.isFinite(expiresIn)) throw unreadable('has an expires_in that is not a number');
    // A negative lifetime is taken as none left: the token set (with its rotated refresh token) is kept, and the
    // next refresh waits for the backoff rather than coming at once.
    return {
      accessToken,
      refreshToken: newRefreshToken,
      expiresIn: expiresIn == null ? undefined : Math.max(0, expiresIn as number),
    } as TokenResponse;
  };
}

/** A `LogoutFn` that calls a logout endpoint, as JSON or as RFC 7009 revocation; sent with `keepalive`. */
export function createEndpointLogout(endpoint: NormalizedEndpoint, environment: EndpointEnvironment): LogoutFn {
  return async ({ accessToken, refreshToken, signal }) => {
    let response: Response;
    if (endpoint.format === 'oauth2') {
      const token = refreshToken ?? accessToken;
      if (token === null) return;
      const token_type_hint = refreshToken !== null ? 'refresh_token' : 'access_token';
      response = await post(environment, endpoint, 'logout', signal, { token, token_type_hint });
    } else {
      response = await post(
        environment,
        endpoint,
        'logout',
        signal,
        { refresh_token: refreshToken ?? undefined },
        accessToken !== null ? { Authorization: `Bearer ${accessToken}` } : {},
      );
    }
    discardBody(response);
  };
}
