import { describe, expect, it } from 'vitest';
import { noResume, REFRESH_URL } from '../support/environment';
import { jwtFor } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { installFakeClock, LIFETIME_S, MARGIN_MS } from '../support/time';

/*
 * Issue 7, defect 12: auth.fetch takes URL, method, headers and body when it is called. What is sent is
 * recorded by the `fetch` option rather than by msw: msw 2.15 (@mswjs/interceptors 0.41) replaces the global
 * Headers, and a `new Headers(request.headers)` of a request with a body then keeps only its Content-Type,
 * which would hide what these tests look at.
 */

const API = 'https://api.test/api';

installFakeClock();

const createManager = trackManagers({
  refresh: { url: REFRESH_URL },
  refreshMargin: MARGIN_MS,
  allowedOrigins: ['https://api.test'],
  channel: false,
  onResume: noResume,
});

/** A request as the `fetch` option received it; the bearer is named, not kept. */
interface SentRequest {
  method: string;
  path: string;
  bearer: string | null;
  header: string | null;
  body: string;
}

/** A `fetch` that records what it is asked to send and answers 200; `token` is recorded as 'current'. */
function recordingFetch(token: string) {
  const seen: SentRequest[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const authorization = request.headers.get('authorization');
    seen.push({
      method: request.method,
      path: new URL(request.url).pathname,
      bearer: authorization === null ? null : authorization === `Bearer ${token}` ? 'current' : 'an unknown token',
      header: request.headers.get('x-request'),
      body: await request.text(),
    });
    return new Response('{}', { status: 200 });
  };
  return { fetch, seen };
}

describe('defect 12: auth.fetch takes the request as it is at the call', () => {
  async function signedIn() {
    const token = jwtFor(LIFETIME_S);
    const { fetch, seen } = recordingFetch(token);
    const auth = createManager({ fetch });
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });
    return { auth, seen };
  }

  const original: SentRequest = {
    method: 'POST',
    path: '/api/original',
    bearer: 'current',
    header: 'original',
    body: 'original body',
  };

  it('a URL object changed after the call changes nothing in what is sent', async () => {
    const { auth, seen } = await signedIn();
    const url = new URL(`${API}/original`);

    const sent = auth.fetch(url, { method: 'POST', headers: { 'X-Request': 'original' }, body: 'original body' });
    url.pathname = '/api/changed';
    url.search = '?changed=1';
    await sent;

    expect(seen).toEqual([original]);
  });

  it('a Headers object given as init.headers and changed after the call changes nothing in what is sent', async () => {
    const { auth, seen } = await signedIn();
    const headers = new Headers({ 'X-Request': 'original' });

    const sent = auth.fetch(`${API}/original`, { method: 'POST', headers, body: 'original body' });
    headers.set('X-Request', 'changed');
    headers.set('Authorization', 'Bearer changed');
    await sent;

    expect(seen).toEqual([original]);
  });

  it('a plain headers object changed after the call changes nothing in what is sent', async () => {
    const { auth, seen } = await signedIn();
    const headers: Record<string, string> = { 'X-Request': 'original' };

    const sent = auth.fetch(`${API}/original`, { method: 'POST', headers, body: 'original body' });
    headers['X-Request'] = 'changed';
    headers.Authorization = 'Bearer changed';
    await sent;

    expect(seen).toEqual([original]);
  });

  it('init changed after the call (method, body, headers replaced) changes nothing in what is sent', async () => {
    const { auth, seen } = await signedIn();
    const init: RequestInit = { method: 'POST', headers: { 'X-Request': 'original' }, body: 'original body' };

    const sent = auth.fetch(`${API}/original`, init);
    init.method = 'PUT';
    init.body = 'changed body';
    init.headers = { 'X-Request': 'changed' };
    await sent;

    expect(seen).toEqual([original]);
  });

  it('the headers of a Request input changed after the call change nothing in what is sent', async () => {
    const { auth, seen } = await signedIn();
    const request = new Request(`${API}/original`, {
      method: 'POST',
      headers: { 'X-Request': 'original' },
      body: 'original body',
    });

    const sent = auth.fetch(request);
    request.headers.set('X-Request', 'changed');
    request.headers.set('Authorization', 'Bearer changed');
    await sent;

    expect(seen).toEqual([original]);
  });
});
