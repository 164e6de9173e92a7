// Expiry, refresh schedule and clocks, with an injected fake clock (environment option).
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, InvalidTokenError } from '#built';
import { makeJwt } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function fakeClock(wallStart = Date.UTC(2030, 0, 1)) {
  let wall = wallStart;
  let mono = 1000;
  let id = 0;
  const timers = new Map<number, { at: number; cb: () => void }>();
  const clock = {
    now: () => wall,
    monotonicNow: () => mono,
    setTimeout: (cb: () => void, ms: number) => {
      id += 1;
      timers.set(id, { at: mono + Math.max(0, ms), cb });
      return id;
    },
    clearTimeout: (h: unknown) => void timers.delete(h as number),
    random: () => 0.5,
    setWall: (w: number) => {
      wall = w;
    },
    get wall() {
      return wall;
    },
    get mono() {
      return mono;
    },
    pending: () => [...timers.values()].map((t) => t.at - mono),
    /** Advance both clocks by ms, firing due timers in order. */
    async advance(ms: number, { wallToo = true } = {}) {
      const target = mono + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= target).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        const step = due[1].at - mono;
        mono = due[1].at;
        if (wallToo) wall += step;
        timers.delete(due[0]);
        due[1].cb();
        for (let i = 0; i < 20; i++) await Promise.resolve();
      }
      if (wallToo) wall += target - mono;
      mono = target;
      for (let i = 0; i < 20; i++) await Promise.resolve();
    },
  };
  return clock;
}

function manager(clock: ReturnType<typeof fakeClock>, extra: Record<string, unknown> = {}) {
  const calls: number[] = [];
  let resume: (() => void) | undefined;
  const auth = createTokenManager({
    refresh: async () => {
      calls.push(clock.wall);
      return {
        accessToken: makeJwt({
          sub: 'u',
          iat: Math.floor(clock.wall / 1000),
          exp: Math.floor(clock.wall / 1000) + 3600,
        }),
        refreshToken: 'r',
      };
    },
    channel: false,
    environment: clock,
    onResume: (check: () => void) => {
      resume = check;
      return () => {};
    },
    ...extra,
  } as never);
  auth.on('error', () => {});
  cleanups.push(() => auth.destroy());
  return { auth, calls, resume: () => resume?.() };
}

const S = 1000;

describe('expiresAt', () => {
  it('expiresIn wins over exp', async () => {
    const c = fakeClock();
    const { auth } = manager(c);
    const sec = Math.floor(c.wall / 1000);
    await auth.setTokens({ accessToken: makeJwt({ iat: sec, exp: sec + 3600 }), expiresIn: 100 });
    expect(auth.getState().expiresAt).toBe(c.wall + 100 * S);
  });

  it('with iat: local receipt time + (exp - iat), whatever the device clock says', async () => {
    const c = fakeClock();
    const { auth } = manager(c);
    const serverSec = Math.floor(c.wall / 1000) + 5 * 3600; // device is 5h behind the server
    await auth.setTokens({ accessToken: makeJwt({ iat: serverSec, exp: serverSec + 600 }) });
    expect(auth.getState().expiresAt).toBe(c.wall + 600 * S);
  });

  it('without iat: from exp', async () => {
    const c = fakeClock();
    const { auth } = manager(c);
    const sec = Math.floor(c.wall / 1000);
    await auth.setTokens({ accessToken: makeJwt({ exp: sec + 600 }) });
    expect(auth.getState().expiresAt).toBe((sec + 600) * S);
  });

  it('no exp and no expiresIn: never expires, no refresh timer fires', async () => {
    const c = fakeClock();
    const { auth, calls } = manager(c);
    await auth.setTokens({ accessToken: makeJwt({ sub: 'x' }), refreshToken: 'r' });
    expect(auth.getState().expiresAt).toBeNull();
    await c.advance(365 * 24 * 3600 * S);
    expect(calls).toHaveLength(0);
  });

  for (const bad of ['soon', null, [1], { a: 1 }, true]) {
    it(`exp ${JSON.stringify(bad)} (not a number) → InvalidTokenError`, async () => {
      const c = fakeClock();
      const { auth } = manager(c);
      await expect(auth.setTokens({ accessToken: makeJwt({ exp: bad }) })).rejects.toBeInstanceOf(InvalidTokenError);
    });
  }

  it('expires_in as numeric string is read as a number; camelCase wins over snake_case', async () => {
    const c = fakeClock();
    const { auth } = manager(c);
    await auth.setTokens({ access_token: 'opaque-1', expires_in: '3600' });
    expect(auth.getState().expiresAt).toBe(c.wall + 3600 * S);
    await auth.setTokens({
      accessToken: 'opaque-2',
      access_token: 'opaque-x',
      expiresIn: 10,
      expires_in: 999,
    } as never);
    expect(auth.getState().accessToken).toBe('opaque-2');
    expect(auth.getState().expiresAt).toBe(c.wall + 10 * S);
  });

  for (const [name, v] of [
    ['opaque without expiresIn', 'not-a-jwt'],
    ['number', 123],
    ['header-unsafe (newline)', 'abc\ndef'],
    ['empty string', ''],
  ] as const) {
    it(`setTokens rejects InvalidTokenError: ${name}`, async () => {
      const c = fakeClock();
      const { auth } = manager(c);
      await expect(auth.setTokens({ accessToken: v as string })).rejects.toBeInstanceOf(InvalidTokenError);
      expect(auth.getState().status).toBe('unauthenticated');
    });
  }

  for (const v of [Number.NaN, Number.POSITIVE_INFINITY, -5, 'abc', '12abc']) {
    it(`expiresIn ${String(v)} does not produce a NaN/Infinity expiresAt or an instant refresh loop`, async () => {
      const c = fakeClock();
      const { auth, calls } = manager(c);
      const r = await auth.setTokens({ accessToken: 'opaque', expiresIn: v as number }).then(
        () => 'ok',
        (e) => e,
      );
      if (r === 'ok') {
        const s = auth.getState();
        expect(s.expiresAt === null || Number.isFinite(s.expiresAt)).toBe(true);
        await c.advance(5 * S);
        expect(calls.length).toBeLessThanOrEqual(2);
      } else {
        expect(r).toBeInstanceOf(InvalidTokenError);
      }
    });
  }
});

describe('schedule', () => {
  it('refresh at expiresAt - margin (10 min token, 60 s margin → at 9 min)', async () => {
    const c = fakeClock();
    const { auth, calls } = manager(c);
    const t0 = c.wall;
    await auth.setTokens({ accessToken: 'o', expiresIn: 600, refreshToken: 'r' });
    await c.advance(539 * S);
    expect(calls).toHaveLength(0);
    await c.advance(2 * S);
    expect(calls).toHaveLength(1);
    expect(calls[0]! - t0).toBeGreaterThanOrEqual(540 * S);
    expect(calls[0]! - t0).toBeLessThanOrEqual(541 * S);
  });

  it('margin never more than half the lifetime (60 s token → at 30 s)', async () => {
    const c = fakeClock();
    const { auth, calls } = manager(c);
    await auth.setTokens({ accessToken: 'o', expiresIn: 60, refreshToken: 'r' });
    await c.advance(29 * S);
    expect(calls).toHaveLength(0);
    await c.advance(2 * S);
    expect(calls).toHaveLength(1);
  });

  it('30-day token is not refreshed early (timers > 2^31-1 ms chained)', async () => {
    const c = fakeClock();
    const { auth, calls } = manager(c);
    await auth.setTokens({ accessToken: 'o', expiresIn: 30 * 86400, refreshToken: 'r' });
    for (const p of c.pending()) expect(p).toBeLessThanOrEqual(2 ** 31 - 1);
    await c.advance(29 * 86400 * S);
    expect(calls).toHaveLength(0);
    await c.advance(86400 * S);
    expect(calls).toHaveLength(1);
  });

  it('wall clock set back 1 h does not delay the refresh (monotonic clock)', async () => {
    const c = fakeClock();
    const { auth, calls } = manager(c);
    await auth.setTokens({ accessToken: 'o', expiresIn: 120, refreshToken: 'r' });
    await c.advance(10 * S);
    c.setWall(c.wall - 3600 * S);
    await c.advance(55 * S);
    expect(calls).toHaveLength(1);
  });

  it('wall clock set back 1 h, then monotonic time passes due: refresh starts (timers and resume)', async () => {
    const c = fakeClock();
    const { auth, calls, resume } = manager(c);
    await auth.setTokens({ accessToken: 'o', expiresIn: 120, refreshToken: 'r' });
    c.setWall(c.wall - 3600 * S);
    await c.advance(100 * S, { wallToo: false });
    resume();
    await c.advance(0);
    expect(calls).toHaveLength(1);
  });

  it('device slept: wall clock jumped forward past due, timers did not fire; resume refreshes at once', async () => {
    const c = fakeClock();
    const { auth, calls, resume } = manager(c);
    await auth.setTokens({ accessToken: 'o', expiresIn: 120, refreshToken: 'r' });
    c.setWall(c.wall + 3600 * S);
    resume();
    await c.advance(0);
    expect(calls).toHaveLength(1);
  });

  it('getAccessToken with wall clock set forward past expiry but monotonic not: refreshes first (either clock)', async () => {
    const c = fakeClock();
    const { auth, calls } = manager(c);
    await auth.setTokens({ accessToken: 'o', expiresIn: 120, refreshToken: 'r' });
    c.setWall(c.wall + 3600 * S);
    const t = await auth.getAccessToken();
    expect(calls).toHaveLength(1);
    expect(t).not.toBe('o');
  });

  it('getAccessToken with wall clock set BACK after expiry by monotonic: still refreshes', async () => {
    const c = fakeClock();
    const { auth, calls } = manager(c, { onResume: () => () => {} });
    await auth.setTokens({ accessToken: 'o', expiresIn: 120, refreshToken: 'r' });
    // clear the timer path: advance only monotonic w/o wall, timers fire though; so check the token afterwards
    c.setWall(c.wall - 86400 * S);
    await c.advance(200 * S, { wallToo: false });
    const t = await auth.getAccessToken();
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(t).not.toBe('o');
  });

  it('expires_in 0 from the refresh: kept, next refresh waits for the backoff (no tight loop)', async () => {
    const c = fakeClock();
    let n = 0;
    const auth = createTokenManager({
      refresh: async () => {
        n += 1;
        return { accessToken: `o${n}`, expiresIn: 0, refreshToken: `r${n}` };
      },
      channel: false,
      environment: c,
      onResume: () => () => {},
    });
    auth.on('error', () => {});
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: 'o', expiresIn: 0, refreshToken: 'r' });
    await c.advance(100);
    expect(n).toBeLessThanOrEqual(1);
    await c.advance(10 * S);
    expect(n).toBeLessThanOrEqual(6);
  });
});

describe('backoff', () => {
  function failing(
    c: ReturnType<typeof fakeClock>,
    answer: () => Promise<{ accessToken: string; expiresIn?: number }>,
  ) {
    const at: number[] = [];
    const auth = createTokenManager({
      refresh: async () => {
        at.push(c.mono);
        return answer();
      },
      channel: false,
      environment: c,
      onResume: () => () => {},
    });
    auth.on('error', () => {});
    cleanups.push(() => auth.destroy());
    return { auth, at };
  }

  it('exponential: first retry within 1 s, doubling, capped at 60 s; the session is kept', async () => {
    const c = fakeClock();
    const { auth, at } = failing(c, async () => {
      throw new Error('down');
    });
    await auth.setTokens({ accessToken: 'o', expiresIn: 100_000, refreshToken: 'r' });
    await auth.refresh().catch(() => {});
    await c.advance(15 * 60 * S);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps[0]).toBeLessThanOrEqual(1 * S);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeLessThanOrEqual(60 * S);
    expect(Math.max(...gaps)).toBeGreaterThan(30 * S);
    expect(gaps.length).toBeLessThan(40);
    expect(auth.getState().status).toBe('authenticated');
  });

  it('within the margin and failing: getAccessToken returns the still-valid token; after expiry it rejects RefreshFailedError', async () => {
    const c = fakeClock();
    const { auth } = failing(c, async () => {
      throw new Error('down');
    });
    await auth.setTokens({ accessToken: 'still-valid', expiresIn: 100, refreshToken: 'r' });
    await c.advance(60 * S); // inside margin (50 s before expiry)
    await expect(auth.getAccessToken()).resolves.toBe('still-valid');
    await c.advance(60 * S); // expired
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'refresh_failed' });
    expect(auth.getState().status).toBe('authenticated');
  });

  it('Retry-After (seconds) on a 503 from the built-in endpoint: next try not before it', async () => {
    const c = fakeClock();
    const at: number[] = [];
    const f = (async () => {
      at.push(c.mono);
      return new Response('busy', { status: 503, headers: { 'retry-after': '120' } });
    }) as typeof fetch;
    const auth = createTokenManager({
      refresh: { url: 'https://auth.test/r' },
      fetch: f,
      channel: false,
      environment: c,
      onResume: () => () => {},
      allowedOrigins: ['https://api.test'],
    });
    auth.on('error', () => {});
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: 'o', expiresIn: 100_000, refreshToken: 'r' });
    await auth.refresh().catch(() => {});
    await c.advance(119 * S);
    expect(at).toHaveLength(1);
    await c.advance(62 * S);
    expect(at.length).toBeGreaterThanOrEqual(2);
  });

  it('Retry-After of a day is bounded to an hour', async () => {
    const c = fakeClock();
    const at: number[] = [];
    const f = (async () => {
      at.push(c.mono);
      return new Response('busy', { status: 429, headers: { 'retry-after': String(86400) } });
    }) as typeof fetch;
    const auth = createTokenManager({
      refresh: { url: 'https://auth.test/r' },
      fetch: f,
      channel: false,
      environment: c,
      onResume: () => () => {},
      allowedOrigins: ['https://api.test'],
    });
    auth.on('error', () => {});
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: 'o', expiresIn: 1_000_000, refreshToken: 'r' });
    await auth.refresh().catch(() => {});
    await c.advance(3601 * S + 61 * S);
    expect(at.length).toBeGreaterThanOrEqual(2);
  });

  it('resume while backing off retries at once', async () => {
    const c = fakeClock();
    let resume: () => void = () => {};
    const at: number[] = [];
    const auth = createTokenManager({
      refresh: async () => {
        at.push(c.mono);
        throw new Error('down');
      },
      channel: false,
      environment: c,
      onResume: (check) => {
        resume = check;
        return () => {};
      },
    });
    auth.on('error', () => {});
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: 'o', expiresIn: 100_000, refreshToken: 'r' });
    await auth.refresh().catch(() => {});
    await c.advance(20 * 60 * S);
    const n = at.length;
    resume();
    await c.advance(0);
    expect(at.length).toBe(n + 1);
  });
});
