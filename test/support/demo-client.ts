// HTTP calls to the reference backend (demo/server/) as its tests make them: over real HTTP on 127.0.0.1.
import { expect } from 'vitest';
import type { AuthServer } from './demo-server';

export interface Answer {
  status: number;
  /** The answer's JSON (`{}` when it is not JSON, the home page say). */
  body: Record<string, unknown>;
  text: string;
  headers: Headers;
}

/** One HTTP call: `json` or `form` as the body, answered JSON read into `body`. */
export async function call(
  server: AuthServer,
  method: string,
  path: string,
  options: { json?: unknown; form?: Record<string, string>; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  const response = await fetch(`${server.url}${path}`, { method, headers, ...(body !== undefined && { body }) });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body: parsed, text, headers: response.headers };
}

export const bearer = (token: unknown) => ({ authorization: `Bearer ${String(token)}` });

export interface Tokens {
  access: string;
  refresh: string;
}

/** Signs in with the demo password; the login must succeed. */
export async function login(server: AuthServer, username = 'ada'): Promise<Tokens> {
  const answer = await call(server, 'POST', '/auth/login', { json: { username, password: 'demo' } });
  expect(answer.status).toBe(200);
  return { access: String(answer.body.access_token), refresh: String(answer.body.refresh_token) };
}

export const refresh = (server: AuthServer, refreshToken: string) =>
  call(server, 'POST', '/auth/refresh', { json: { refresh_token: refreshToken } });

export const me = (server: AuthServer, accessToken: string) =>
  call(server, 'GET', '/api/me', { headers: bearer(accessToken) });

/** The `name=value` of the cookie `name` a response sets, or `undefined`. */
export const setCookieOf = (answer: Answer, name: string) =>
  answer.headers
    .getSetCookie()
    .find((cookie) => cookie.startsWith(`${name}=`))
    ?.split(';')[0];
