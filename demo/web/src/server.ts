/**
 * Calls to the reference backend that are not made with the session: the login itself, the demo's controls,
 * the public counters, and the replay of an old token (sent by hand on purpose). See demo/server/README.md.
 */
import { isHTTPError } from 'ky';
import { isTokenkeeperError } from 'tokenkeeper';
import { auth } from './auth';

/** The counters of `GET /api/stats`; a server may lack some of them. */
export type ServerStats = Partial<Record<string, number | null>> & { refreshBrokenUntil?: number | null };

const json = { 'content-type': 'application/json' };

/** What a failed call answered, as `401 invalid_credentials`: the status and the body's error fields, nothing else. */
function describeAnswer(status: number, body: unknown): string {
  const fields = (body ?? {}) as Record<string, unknown>;
  const detail = [fields.error, fields.reason, fields.error_description].filter((part) => typeof part === 'string');
  return [status, ...detail].join(' ');
}

const describeResponse = async (response: Response): Promise<string> =>
  describeAnswer(response.status, await response.json().catch(() => null));

/** A line for any failure: an HTTP status with the server's error, a tokenkeeper code, or the message. */
export async function describeError(error: unknown): Promise<string> {
  // ky has read the body already, into `error.data`.
  if (isHTTPError(error)) {
    const { method, url } = error.request;
    return `${method} ${new URL(url).pathname} answered ${describeAnswer(error.response.status, error.data)}`;
  }
  if (isTokenkeeperError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Signs in: the server checks the password, and the manager takes the answer as it is. */
export async function login(username: string, password: string): Promise<void> {
  const response = await fetch('/auth/login', {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) throw new Error(`Sign-in failed: ${await describeResponse(response)}`);
  await auth.setTokens(await response.json());
}

/** Thrown when the server has no such route (404): nothing to retry. */
export class MissingRouteError extends Error {}

export async function readStats(signal?: AbortSignal): Promise<ServerStats> {
  const response = await fetch('/api/stats', { signal: signal ?? null });
  if (response.status === 404) throw new MissingRouteError('this server has no GET /api/stats');
  if (!response.ok) throw new Error(`GET /api/stats answered ${await describeResponse(response)}`);
  return (await response.json()) as ServerStats;
}

/** Demo only: the refresh endpoint answers 503 for `seconds`. Resolves to when it works again (ms since epoch). */
export async function breakRefresh(seconds: number): Promise<number> {
  const response = await fetch('/demo/break-refresh', {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ seconds }),
  });
  if (!response.ok) throw new Error(`POST /demo/break-refresh answered ${await describeResponse(response)}`);
  const { until } = (await response.json()) as { until?: unknown };
  return typeof until === 'number' ? until : Date.now() + seconds * 1000;
}

/** Sends an access token from an ended session, as an attacker who copied it would: `401 invalid_token denied`. */
export async function replay(accessToken: string): Promise<string> {
  const response = await fetch('/api/me', { headers: { authorization: `Bearer ${accessToken}` } });
  return response.ok ? `${response.status} accepted (the token still works)` : describeResponse(response);
}
