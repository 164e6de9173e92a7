// Malformed channel messages are ignored. The shapes come from sniffing the managers' own messages (black box):
// {protocol:'tokenkeeper', version:2, from, type:'session'|'logout'|'query'|'state', session:{id,stamp,seq,accessToken,
// refreshToken,expiresAt,receivedAt}, stamp, id, tokens, queryId, to, floor}.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { jwt, sleep } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup() {
  const ch = `fuzz-${Math.random()}`;
  const sniffed: Record<string, unknown>[] = [];
  const bc = new BroadcastChannel(ch);
  bc.onmessage = (e) => sniffed.push(e.data);
  cleanups.push(() => bc.close());
  const auth = createTokenManager({
    channel: ch,
    refresh: async () => ({ accessToken: jwt(3600), refreshToken: 'r2' }),
  });
  auth.on('error', () => {});
  cleanups.push(() => auth.destroy());
  await auth.ready;
  const at = jwt(3600);
  await auth.setTokens({ accessToken: at, refreshToken: 'r1' });
  await sleep(10);
  const session = sniffed.find((m) => m.type === 'session') as { session: Record<string, unknown> } & Record<
    string,
    unknown
  >;
  session.from = 'another-tab-id'; // a message of another tab, not the manager's own echo
  return { ch, bc, auth, at, session, sniffed };
}

const clone = <T>(v: T): T => structuredClone(v);

describe('malformed channel messages', () => {
  it('a session message with each field set to a wrong-typed or out-of-range value is ignored (state object unchanged)', async () => {
    const { bc, auth, at, session } = await setup();
    const wrong: Record<string, unknown[]> = {
      id: [5, null, {}, '', undefined],
      stamp: ['1', null, Number.NaN, Number.POSITIVE_INFINITY, undefined, {}, 10n],
      seq: ['1', -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, null, undefined],
      accessToken: [5, null, '', 'a\nb', {}, ['x'], undefined],
      refreshToken: [5, {}, ['x']],
      expiresAt: ['x', Number.NaN, Number.POSITIVE_INFINITY, {}, true],
      receivedAt: ['x', Number.NaN, null, {}],
    };
    const before = auth.getState();
    const failures: string[] = [];
    for (const [field, values] of Object.entries(wrong)) {
      for (const v of values) {
        const m = clone(session);
        const s = m.session as Record<string, unknown>;
        s.seq = Number(s.seq) + 5; // would be "newer" if it were well-formed
        s.accessToken = field === 'accessToken' ? v : jwt(3600);
        if (field !== 'accessToken') s[field] = v;
        if (v === undefined) delete s[field];
        bc.postMessage(m);
        await sleep(5);
        const st = auth.getState();
        if (st !== before) {
          failures.push(
            `${field}=${typeof v === 'bigint' ? `${v}n` : (JSON.stringify(v) ?? String(v))} → status ${st.status}, expiresAt ${st.expiresAt}, token ${typeof st.accessToken === 'string' ? (st.accessToken === at ? 'same' : 'changed') : st.accessToken}`,
          );
          // restore the session for the next case
          await auth.logout();
          await auth.setTokens({ accessToken: jwt(3600), refreshToken: `r-${Math.random()}` });
          return expect(failures).toEqual([]);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('positive control: the same sniffed message made newer (seq + 5, new token) IS taken in', async () => {
    const { bc, auth, session } = await setup();
    const m = clone(session);
    const t = jwt(3600);
    (m.session as Record<string, unknown>).seq = Number((m.session as Record<string, unknown>).seq) + 5;
    (m.session as Record<string, unknown>).accessToken = t;
    bc.postMessage(m);
    await sleep(20);
    expect(auth.getState().accessToken).toBe(t);
  });

  it('non-protocol values are ignored', async () => {
    const { bc, auth } = await setup();
    const before = auth.getState();
    for (const v of [
      null,
      1,
      'logout',
      [],
      [1, 2],
      {},
      { type: 'logout' },
      { protocol: 'tokenkeeper' },
      { protocol: 'tokenkeeper', version: 1, type: 'logout' },
      { protocol: 'tokenkeeper', version: 3, type: 'logout', stamp: Date.now() + 1e6, id: 'x', tokens: [] },
      new Date(),
      new Map(),
      new Uint8Array(3),
    ]) {
      bc.postMessage(v);
    }
    await sleep(30);
    expect(auth.getState()).toBe(before);
  });

  it('logout messages with a malformed stamp/id/tokens are ignored', async () => {
    const { bc, auth, sniffed } = await setup();
    // get a real logout message shape from a second manager logging out a session of its own
    const proto = { protocol: 'tokenkeeper', version: 2, from: 'attacker-tab', type: 'logout' } as const;
    const before = auth.getState();
    const bad = [
      { stamp: Number.NaN, id: 'x', tokens: [] },
      { stamp: Number.POSITIVE_INFINITY, id: 'x', tokens: [] },
      { stamp: '9999999999999', id: 'x', tokens: [] },
      { stamp: Date.now() + 1e7, id: 5, tokens: [] },
      { stamp: Date.now() + 1e7, id: 'x', tokens: 'abc' },
      { stamp: Date.now() + 1e7, id: 'x', tokens: [5, null] },
      { stamp: Date.now() + 1e7, id: 'x' },
      { id: 'x', tokens: [] },
      { stamp: -1, id: 'x', tokens: [] },
    ];
    const results: string[] = [];
    for (const b of bad) {
      bc.postMessage({ ...proto, ...b });
      await sleep(5);
      if (auth.getState() !== before) {
        results.push(`${JSON.stringify(b)} → ${auth.getState().status}`);
        break;
      }
    }
    void sniffed;
    expect(results).toEqual([]);
    // positive control: the well-formed version ends the session
    bc.postMessage({ ...proto, stamp: Date.now() + 1e7, id: 'x', tokens: [] });
    await sleep(20);
    expect(auth.getState().status).toBe('unauthenticated');
  });

  it('fast-check: random wrong-typed mutations of sniffed messages never change a signed-in manager', async () => {
    const { bc, auth, session } = await setup();
    const before = auth.getState();
    const weird = fc.oneof(
      fc.constantFrom(
        null,
        undefined,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        -0,
        '',
        'a\nb',
        [],
        {},
        true,
        10n,
      ),
      fc.object({ maxDepth: 1 }),
      fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
    );
    const fields = [
      'id',
      'stamp',
      'seq',
      'accessToken',
      'refreshToken',
      'expiresAt',
      'receivedAt',
      'session',
      'protocol',
      'version',
      'type',
      'from',
    ] as const;
    const typeOk: Record<(typeof fields)[number], (v: unknown) => boolean> = {
      id: (v) => typeof v === 'string' && v !== '',
      stamp: (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0,
      seq: (v) => Number.isInteger(v) && (v as number) >= 0,
      accessToken: (v) => typeof v === 'string' && /^[\x21-\x7e]+$/.test(v),
      refreshToken: (v) => v === null || typeof v === 'string',
      expiresAt: (v) => v === null || (typeof v === 'number' && Number.isFinite(v)),
      receivedAt: (v) => typeof v === 'number' && Number.isFinite(v),
      session: () => false,
      protocol: () => false,
      version: () => false,
      type: () => false,
      from: (v) => typeof v === 'string',
    };
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    console.log('channel-fuzz fast-check seed', seed);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), weird, async (field, v) => {
        fc.pre(!typeOk[field](v));
        const m = clone(session) as Record<string, unknown> & { session: Record<string, unknown> };
        m.session.seq = Number(m.session.seq) + 7;
        m.session.accessToken = jwt(3600);
        const top: Record<string, unknown> = m; // `session` too may get a value that is no object
        if (['protocol', 'version', 'type', 'from', 'session'].includes(field)) top[field] = v;
        else m.session[field] = v;
        try {
          bc.postMessage(m);
        } catch {
          return; // not cloneable: nothing sent
        }
        await sleep(3);
        expect(auth.getState()).toBe(before);
      }),
      { seed, numRuns: 150 },
    );
  }, 30_000);

  it('prototype-polluting shapes are harmless', async () => {
    const { bc, auth, session } = await setup();
    const m = JSON.parse(JSON.stringify(session).replace('"session":{', '"session":{"__proto__":{"polluted":true},'));
    // biome-ignore lint/suspicious/noProto: the message a hostile page would post
    m.__proto__ = { polluted: true };
    bc.postMessage(m);
    bc.postMessage(
      JSON.parse(
        '{"__proto__":{"polluted":true},"protocol":"tokenkeeper","version":2,"type":"logout","constructor":{"prototype":{"polluted":true}}}',
      ),
    );
    await sleep(20);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(auth.getState().status).toBe('authenticated');
  });
});
