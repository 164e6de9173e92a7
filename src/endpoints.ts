import { ConfigurationError, HttpStatusError, RefreshRejectedError } from './errors';
import type { Environment } from './environment';
import { readTokenFields } from './token';
import type { LogoutFn, RefreshFn } from './types';

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

/** Lets go of a body nobody reads, so that its connection is freed. */
export const discardBody = (body: ReadableStream | null | undefined): void => {
  void body?.cancel().catch(() => {});
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
      throw new ConfigurationError(`${name}.url must be an absolute URL where there is no page`);
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
      `the refresh was rejected: ${status}${typeof code === 'string' && /^[a-z][a-z_]{0,39}$/.test(code) ? ` (${code})` : ''}`,
    );
  }
  discardBody(response.body);
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
    return readTokenFields(await readJson(response), true);
  };
}

/** A `LogoutFn` that calls a logout endpoint, as JSON or as RFC 7009 revocation; sent with `keepalive`. */
export function createEndpointLogout(endpoint: NormalizedEndpoint, environment: EndpointEnvironment): LogoutFn {
  return async ({ accessToken, refreshToken, signal }) => {
    const json = endpoint.format !== 'oauth2';
    // RFC 7009 revokes one token: the refresh token, else the access token; with neither there is nothing to say.
    const token = refreshToken ?? accessToken;
    if (json || token !== null) {
      const response = await post(
        environment,
        endpoint,
        'logout',
        signal,
        json
          ? { refresh_token: refreshToken ?? undefined }
          : { token: token as string, token_type_hint: refreshToken !== null ? 'refresh_token' : 'access_token' },
        json && accessToken !== null ? { Authorization: `Bearer ${accessToken}` } : {},
      );
      discardBody(response.body);
    }
  };
}
