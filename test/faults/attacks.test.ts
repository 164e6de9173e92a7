import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStorage, createTokenManager, InvalidTokenError, type TokenManager } from 'tokenkeeper';
import { jwtFor } from '../support/jwt';
import { flush, installFakeClock, LIFETIME_S } from '../support/time';

/*
 * What an independent attack on the packed package found, one test each: a URL shown to the origin check
 * and another to fetch, a forged logout far in the future, a lock wait shorter than the refresh it waits
 * for, a storage whose answer throws when looked at.
 */

installFakeClock();
const managers: TokenManager[] = [];
afterEach(() => {
  for (const auth of managers.splice(0)) auth.destroy();
});
const track = (auth: TokenManager): TokenManager => {
  managers.push(auth);
  return auth;
};

interface Sent {
  url: string;
  authorization: string | null;
}

function signedInManager() {
  const sent: Sent[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    sent.push({ url: request.url, authorization: request.headers.get('authorization') });
    return new Response(null, { status: 204 });
  };
  const auth = track(
    createTokenManager({
      refresh: async () => ({ accessToken: jwtFor(LIFETIME_S) }),
      allowedOrigins: ['https://api.test'],
      channel: false,
      fetch,
    }),
  );
  return { auth, sent };
}

describe('an input cannot show one URL to the origin check and another to fetch', () => {
  it('a Request subclass whose url getter names an allowed origin gets no token for where it really goes', async () => {
    const { auth, sent } = signedInManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r' });
    class Disguised extends Request {
      override get url(): string {
        return 'https://api.test/x';
      }
    }

    await auth.fetch(new Disguised('https://evil.test/steal'));

    expect(sent).toEqual([{ url: 'https://evil.test/steal', authorization: null }]);
  });

  it('an object whose text changes from one read to the next is read once', async () => {
    const { auth, sent } = signedInManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r' });
    let reads = 0;
    const shifty = { toString: () => (reads++ === 0 ? 'https://api.test/x' : 'https://evil.test/s2') };

    await auth.fetch(shifty as unknown as string);

    expect(sent).toHaveLength(1);
    expect(sent[0]!.authorization === null || sent[0]!.url.startsWith('https://api.test/')).toBe(true);
    expect(sent.filter((request) => request.url.startsWith('https://evil.test') && request.authorization)).toEqual([]);
  });
});

describe('a forged stamp far in the future', () => {
  it('a logout message stamped 2^52 does not keep anyone from signing in, here or after a reload', async () => {
    const posted: { onmessage: ((event: MessageEvent) => void) | null }[] = [];
    const createChannel = () => {
      const channel = { onmessage: null as ((event: MessageEvent) => void) | null, postMessage() {}, close() {} };
      posted.push(channel);
      return channel;
    };
    const storage = createMemoryStorage();
    const open = () =>
      track(
        createTokenManager({
          refresh: async () => ({ accessToken: jwtFor(LIFETIME_S) }),
          storage,
          environment: { createChannel },
        }),
      );
    const auth = open();
    await auth.ready;
    posted[0]!.onmessage?.({
      data: {
        protocol: 'tokenkeeper',
        version: 2,
        from: 'forger',
        type: 'logout',
        stamp: 2 ** 52,
        id: 'x',
        tokens: [],
      },
    } as MessageEvent);

    const token = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: token, refreshToken: 'r1' });
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: token });

    // A reload: the page that was is gone, the new one reads what it left.
    auth.destroy();
    const reloaded = open();
    await reloaded.ready;
    expect(reloaded.getState()).toMatchObject({ status: 'authenticated', accessToken: token });
  });

  it('a stored record stamped 2^52 is treated as unreadable: removed, with an error, and sign-in works', async () => {
    const storage = createMemoryStorage();
    storage.setItem('tokenkeeper', JSON.stringify({ v: 2, session: null, floor: { stamp: 2 ** 52, id: 'x' } }));
    const auth = track(
      createTokenManager({ refresh: async () => ({ accessToken: jwtFor(LIFETIME_S) }), storage, channel: false }),
    );
    const errors: string[] = [];
    auth.on('error', ({ error }) => errors.push((error as Error & { code?: string }).code ?? ''));
    await auth.ready;
    await flush();

    expect(errors).toEqual(['storage_failed']);
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    expect(auth.getState().status).toBe('authenticated');
  });
});

describe('the refresh lock is waited for as long as the refresh it waits for may take', () => {
  it('a tab waiting on a slow refresh (17 s, timeout 30 s) uses its answer instead of sending the refresh token again', async () => {
    const storage = createMemoryStorage();
    const sentTokens: (string | null)[] = [];
    const refresh = vi.fn(async ({ refreshToken }: { refreshToken: string | null }) => {
      sentTokens.push(refreshToken);
      await new Promise((resolve) => setTimeout(resolve, 17_000));
      return { accessToken: jwtFor(LIFETIME_S), refreshToken: `${refreshToken}+1` };
    });
    // Two managers on one storage object share the refresh lock (no channel here).
    const open = () =>
      track(
        createTokenManager({
          refresh: { url: 'https://auth.test/refresh', timeout: 30_000 },
          storage,
          channel: false,
          fetch: fetchFrom(refresh),
        }),
      );
    const a = open();
    await a.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r0' });
    // The second tab opens on the stored session.
    const b = open();
    await b.ready;

    const first = a.refresh();
    await vi.advanceTimersByTimeAsync(100);
    const second = b.refresh();
    await vi.advanceTimersByTimeAsync(20_000);

    const [tokenA, tokenB] = await Promise.all([first, second]);
    expect(sentTokens).toEqual(['r0']);
    expect(tokenB).toBe(tokenA);
  });

  it('refuses, with InvalidTokenError, to sign in again with the tokens of a session that was logged out', async () => {
    const auth = track(
      createTokenManager({ refresh: async () => ({ accessToken: jwtFor(LIFETIME_S) }), channel: false }),
    );
    const tokens = { accessToken: jwtFor(LIFETIME_S), refreshToken: 'r-ended' };
    await auth.setTokens(tokens);
    await auth.logout();

    await expect(auth.setTokens(tokens)).rejects.toBeInstanceOf(InvalidTokenError);
    expect(auth.getState().status).toBe('unauthenticated');
  });
});

describe('a storage that answers with something whose then throws', () => {
  it('does not make createTokenManager throw: the read is unreadable, with an error, and the manager works', async () => {
    const storage = {
      getItem: () =>
        ({
          // biome-ignore lint/suspicious/noThenProperty: the attack is exactly a thenable whose then throws
          get then(): never {
            throw new Error('boom');
          },
        }) as unknown as string,
      setItem() {},
      removeItem() {},
    };
    const auth = track(
      createTokenManager({ refresh: async () => ({ accessToken: jwtFor(LIFETIME_S) }), storage, channel: false }),
    );
    const errors: string[] = [];
    auth.on('error', ({ error }) => errors.push((error as Error & { code?: string }).code ?? ''));
    await auth.ready;
    await flush();

    // The load, and the read before the removal, each report the storage (no token involved).
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(new Set(errors)).toEqual(new Set(['storage_failed']));
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    expect(auth.getState().status).toBe('authenticated');
  });
});

/** A fetch that answers the refresh endpoint with what `refresh` returns, as JSON. */
function fetchFrom(
  refresh: (context: { refreshToken: string | null }) => Promise<{ accessToken: string; refreshToken: string }>,
) {
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const body = (await request.json()) as { refresh_token?: string };
    const answer = await refresh({ refreshToken: body.refresh_token ?? null });
    return Response.json({ access_token: answer.accessToken, refresh_token: answer.refreshToken, expires_in: 3600 });
  };
}
