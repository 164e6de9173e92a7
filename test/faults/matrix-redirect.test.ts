/**
 * Fault matrix, redirects against real servers (issue 7, scope item 5; design-issue7.md item 7). msw cannot
 * show a followed 307/308 (it refuses to replay a POST body), so these rows run two node:http servers on
 * 127.0.0.1 (port 0): one answers the refresh and logout endpoints with a 307 or 308 to the other, which
 * must never see a request (the refresh token would go with it). msw lets the requests to them through.
 * Real timers: the requests go over real sockets.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { passthrough } from 'msw';
import { type AuthState, HttpStatusError, LogoutFailedError, RefreshFailedError } from 'tokenkeeper';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { outcome } from '../support/async';
import { http, noResume, server, startServer } from '../support/environment';
import { recordEvents } from '../support/events';
import { jwtFor } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { LIFETIME_S, MARGIN_MS } from '../support/time';
import {
  createFaultyStorage,
  expectNoLeaks,
  INITIAL_REFRESH_TOKEN,
  installRequestLedger,
  posts,
  reloadState,
  spyConsole,
  storedText,
} from './support';

startServer();
const ledger = installRequestLedger();
const createManager = trackManagers({ refreshMargin: MARGIN_MS, onResume: noResume, channel: false });

interface Seen {
  method: string;
  path: string;
  body: string;
}

/** Starts a node:http server on 127.0.0.1, port 0; `handle` answers after the whole body was read. */
async function startHttpServer(handle: (request: IncomingMessage, body: string, response: ServerResponse) => void) {
  const seen: Seen[] = [];
  const httpServer: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: request.method ?? '', path: request.url ?? '', body });
      handle(request, body, response);
    });
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const origin = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  return { origin, seen, close: () => new Promise<void>((resolve) => httpServer.close(() => resolve())) };
}

let target: Awaited<ReturnType<typeof startHttpServer>>;
let redirector: Awaited<ReturnType<typeof startHttpServer>>;

beforeAll(async () => {
  // The target answers as a willing token endpoint would, so a followed redirect would "succeed".
  target = await startHttpServer((_request, _body, response) => {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ access_token: jwtFor(LIFETIME_S), refresh_token: 'rt-from-the-target-1d2e3f' }));
  });
  // `/refresh-307` answers 307 to the target's `/collect/refresh-307`, and so on.
  redirector = await startHttpServer((request, _body, response) => {
    const status = Number(/-(\d{3})$/.exec(request.url ?? '')?.[1] ?? 500);
    response.writeHead(status, { Location: `${target.origin}/collect${request.url ?? ''}` });
    response.end();
  });
});
afterAll(async () => {
  await Promise.all([target?.close(), redirector?.close()]);
});
beforeEach(() => {
  target.seen.length = 0;
  redirector.seen.length = 0;
  server.use(
    http.all(`${redirector.origin}/*`, () => passthrough()),
    http.all(`${target.origin}/*`, () => passthrough()),
  );
});

const statuses = [307, 308] as const;

describe('fault matrix: redirects, real servers', () => {
  it.each(statuses)(
    'refresh answered %i → not followed: RefreshFailedError (HttpStatusError), session kept',
    async (code) => {
      const consoleOutput = spyConsole();
      const refreshUrl = `${redirector.origin}/refresh-${code}`;
      const storage = createFaultyStorage();
      const auth = createManager({ refresh: { url: refreshUrl, timeout: 5_000 }, storage });
      const access = jwtFor(LIFETIME_S);
      await auth.setTokens({ accessToken: access, refreshToken: INITIAL_REFRESH_TOKEN });
      const events = recordEvents(auth);

      const result = await outcome(auth.refresh());
      auth.destroy(); // no background retry over real time; destroy() keeps storage and emits nothing

      expect(target.seen, 'requests the redirect target received').toEqual([]);
      expect(redirector.seen).toHaveLength(1);
      expect(JSON.parse(redirector.seen[0]!.body)).toEqual({ refresh_token: INITIAL_REFRESH_TOKEN });
      expect(ledger.requests).toEqual(posts(refreshUrl, 1));

      expect(result).toHaveProperty('error');
      const error = (result as { error: unknown }).error;
      expect(error).toBeInstanceOf(RefreshFailedError);
      const cause = (error as { cause?: unknown }).cause;
      expect(cause).toBeInstanceOf(HttpStatusError);
      expect((cause as HttpStatusError).status).toBe(code);
      expect(events.error).toHaveLength(1);
      expect(events.error[0]!.error).toBeInstanceOf(RefreshFailedError);
      expect(events.logout).toEqual([]);
      expect(events.refresh).toEqual([]);
      expect(storedText(storage.values)).toContain(access);
      expect(storedText(storage.values)).toContain(INITIAL_REFRESH_TOKEN);
      expect(await reloadState(storage.values)).toMatchObject({ status: 'authenticated', accessToken: access });
      expectNoLeaks([error, ...events.error.map(({ error: emitted }) => emitted)], consoleOutput(), [
        access,
        INITIAL_REFRESH_TOKEN,
        'rt-from-the-target-1d2e3f',
      ]);
    },
  );

  it.each(statuses)(
    'logout answered %i → not followed: signed out first, serverNotified: false, one logout_failed',
    async (code) => {
      const consoleOutput = spyConsole();
      const logoutUrl = `${redirector.origin}/logout-${code}`;
      const storage = createFaultyStorage();
      const auth = createManager({
        refresh: { url: `${redirector.origin}/refresh-never-called-500` },
        logout: { url: logoutUrl, timeout: 5_000 },
        storage,
      });
      const access = jwtFor(LIFETIME_S);
      await auth.setTokens({ accessToken: access, refreshToken: INITIAL_REFRESH_TOKEN });
      const events = recordEvents(auth);
      const states: AuthState[] = [];
      auth.subscribe((state) => states.push(state));

      const result = await outcome(auth.logout());

      expect(result).toEqual({ value: { serverNotified: false } });
      expect(target.seen, 'requests the redirect target received').toEqual([]);
      expect(redirector.seen).toHaveLength(1);
      expect(JSON.parse(redirector.seen[0]!.body)).toEqual({ refresh_token: INITIAL_REFRESH_TOKEN });
      expect(ledger.requests).toEqual(posts(logoutUrl, 1));

      expect(states.map((state) => state.status)).toEqual(['unauthenticated']);
      expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
      expect(storedText(storage.values) ?? '').not.toContain(access);
      expect(storedText(storage.values) ?? '').not.toContain(INITIAL_REFRESH_TOKEN);
      expect((await reloadState(storage.values)).status).toBe('unauthenticated');
      expect(events.logout).toEqual([{ reason: 'user' }]);
      expect(events.error).toHaveLength(1);
      expect(events.error[0]!.error).toBeInstanceOf(LogoutFailedError);
      expect((events.error[0]!.error as LogoutFailedError).code).toBe('logout_failed');
      expectNoLeaks(
        events.error.map(({ error }) => error),
        consoleOutput(),
        [access, INITIAL_REFRESH_TOKEN],
      );
      auth.destroy();
    },
  );
});
