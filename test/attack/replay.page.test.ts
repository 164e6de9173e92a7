// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
// Body replay on a 401 with the page's own classes (happy-dom's FormData, Blob, URLSearchParams, Request).
import { afterEach, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { deferred, jwt } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup() {
  const sent: { ct: string | null; body: string; auth: string | null; url: string; method: string }[] = [];
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const r = new Request(input as RequestInfo, init);
    const body = r.body ? await r.text() : '';
    sent.push({
      ct: r.headers.get('content-type'),
      body,
      auth: r.headers.get('authorization'),
      url: r.url,
      method: r.method,
    });
    return new Response('', { status: sent.length === 1 ? 401 : 200 });
  }) as typeof fetch;
  const gate = deferred();
  const refreshing = deferred();
  const auth = createTokenManager({
    refresh: async () => {
      refreshing.resolve();
      await gate.promise;
      return { accessToken: jwt(3600) };
    },
    channel: false,
    fetch: f,
  });
  cleanups.push(() => auth.destroy());
  await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
  return { auth, sent, gate, refreshing };
}

const norm = (x: { ct: string | null; body: string }) => {
  const m = /boundary=(.+)$/.exec(x.ct ?? '');
  return m ? { ct: x.ct!.replace(m[1]!, 'B'), body: x.body.split(m[1]!).join('B') } : { ct: x.ct, body: x.body };
};

const bodies: [string, () => BodyInit, (b: BodyInit) => void][] = [
  [
    'FormData',
    () => {
      const f = new FormData();
      f.append('a', '1');
      f.append('f', new Blob(['xyz'], { type: 'text/plain' }), 'f.txt');
      return f;
    },
    (b) => (b as FormData).set('a', 'CHANGED'),
  ],
  ['URLSearchParams', () => new URLSearchParams('a=1&b=2'), (b) => (b as URLSearchParams).set('a', 'CHANGED')],
  ['Blob', () => new Blob(['blob'], { type: 'text/x-b' }), () => {}],
  ['Uint8Array', () => new Uint8Array([65, 66, 67]), (b) => (b as Uint8Array).fill(90)],
  ['string', () => 'plain', () => {}],
];

for (const [name, make, mutate] of bodies) {
  it(`page: ${name} replayed identically, mutation during the refresh ignored`, async () => {
    const { auth, sent, gate, refreshing } = await setup();
    const body = make();
    const p = auth.fetch('/api/x', { method: 'POST', body });
    await refreshing.promise;
    mutate(body);
    gate.resolve();
    const r = await p;
    expect(r.status).toBe(200);
    expect(sent).toHaveLength(2);
    expect(norm(sent[1]!)).toEqual(norm(sent[0]!));
    expect(sent[0]!.body).not.toContain('CHANGED');
    expect(sent[0]!.auth).not.toBe(sent[1]!.auth);
  });
}

it('page: Request input with FormData body replayed', async () => {
  const { auth, sent, gate } = await setup();
  gate.resolve();
  const f = new FormData();
  f.append('k', 'v');
  await auth.fetch(new Request('https://app.test/api/y', { method: 'PUT', body: f }));
  expect(sent).toHaveLength(2);
  expect(norm(sent[1]!)).toEqual(norm(sent[0]!));
  expect(sent[1]!.method).toBe('PUT');
});
