// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
/**
 * The browser's own resume signals, which the manager listens to when no `onResume` is given: window `focus`,
 * `online` and `pageshow`, and document `visibilitychange` unless the page is hidden. A "sleep" is the wall
 * clock jumping past the refresh due time while no timer fires, as when a laptop lid is closed.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jwtFor } from './support/jwt';
import { HttpResponse, REFRESH_URL, refreshEndpoint, server, startServer } from './support/environment';
import { collect } from './support/events';
import { numberedKeys, trackManagers } from './support/managers';
import { flush, installFakeClock, LIFETIME_MS, LIFETIME_S, MARGIN_MS, START_MS } from './support/time';

/** When the proactive refresh of a token received at `START_MS` is due. */
const DUE_MS = START_MS + LIFETIME_MS - MARGIN_MS;

installFakeClock();
startServer();

const nextStorageKey = numberedKeys('resume-page-test');

/** No `onResume`: the browser default. No channel: managers of different tests must not talk to each other. */
const createManager = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  refreshMargin: MARGIN_MS,
  channel: false,
  storageKey: nextStorageKey(),
}));

type ResumeEvent = ['window' | 'document', string];

const resumeEvents: ResumeEvent[] = [
  ['window', 'focus'],
  ['window', 'online'],
  ['window', 'pageshow'],
  ['document', 'visibilitychange'],
];

function dispatch([target, type]: ResumeEvent): void {
  (target === 'window' ? window : document).dispatchEvent(new Event(type));
}

/** A signed-in manager whose device then slept past the refresh due time: the clock moved, no timer fired. */
async function signedInThenSlept() {
  const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'r2' }));
  server.use(refresh.handler);
  const auth = createManager();
  const first = jwtFor(LIFETIME_S);
  await auth.setTokens({ accessToken: first, refreshToken: 'r1' });
  const refreshed = collect(auth, 'refresh');

  vi.setSystemTime(DUE_MS + 30_000);
  await flush();
  expect(refresh.seen).toHaveLength(0);
  expect(auth.getState().accessToken).toBe(first);
  return { auth, refresh, refreshed, first };
}

describe('resume on a page, with no onResume option', () => {
  it('runs on a page whose origin is https://app.test, visible', () => {
    // Guards the environment options above: the tests below rely on a window, a document and a visible page.
    expect(globalThis.location.origin).toBe('https://app.test');
    expect(document.visibilityState).toBe('visible');
  });

  it.each(resumeEvents)("starts the overdue refresh at once on %s '%s' after a sleep", async (target, type) => {
    const { auth, refresh, refreshed, first } = await signedInThenSlept();

    dispatch([target, type]);
    await flush();

    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'r1' });
    expect(refreshed).toHaveLength(1);
    expect(auth.getState()).toMatchObject({ status: 'authenticated', refreshing: false });
    expect(auth.getState().accessToken).not.toBe(first);
    auth.destroy();
  });

  describe('while the page is hidden', () => {
    let ownVisibilityState: PropertyDescriptor | undefined;

    function hidePage(): void {
      ownVisibilityState = Object.getOwnPropertyDescriptor(document, 'visibilityState');
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    }

    function showPage(): void {
      if (ownVisibilityState) Object.defineProperty(document, 'visibilityState', ownVisibilityState);
      else Reflect.deleteProperty(document, 'visibilityState');
      ownVisibilityState = undefined;
    }

    afterEach(() => {
      showPage();
    });

    it("does not refresh on 'visibilitychange', and does once the page is visible again", async () => {
      const { auth, refresh, refreshed } = await signedInThenSlept();

      hidePage();
      expect(document.visibilityState).toBe('hidden');
      dispatch(['document', 'visibilitychange']);
      await flush();
      expect(refresh.seen).toHaveLength(0);
      expect(refreshed).toHaveLength(0);

      showPage();
      expect(document.visibilityState).toBe('visible');
      dispatch(['document', 'visibilitychange']);
      await flush();
      expect(refresh.seen).toHaveLength(1);
      expect(refreshed).toHaveLength(1);
      auth.destroy();
    });
  });

  describe('after destroy()', () => {
    it('does nothing on any of the events', async () => {
      const { auth, refresh, refreshed } = await signedInThenSlept();
      dispatch(['window', 'focus']);
      await flush();
      expect(refresh.seen).toHaveLength(1);

      auth.destroy();
      vi.setSystemTime(Date.now() + 2 * LIFETIME_MS);
      for (const event of resumeEvents) dispatch(event);
      await flush();

      expect(refresh.seen).toHaveLength(1);
      expect(refreshed).toHaveLength(1);
    });

    it('removes every listener it added to the window and the document', async () => {
      const added: [EventTarget, string, unknown][] = [];
      const removed: [EventTarget, string, unknown][] = [];
      for (const target of [window, document] as EventTarget[]) {
        const add = target.addEventListener.bind(target);
        const remove = target.removeEventListener.bind(target);
        vi.spyOn(target, 'addEventListener').mockImplementation((type, listener, options) => {
          added.push([target, type, listener]);
          add(type, listener, options);
        });
        vi.spyOn(target, 'removeEventListener').mockImplementation((type, listener, options) => {
          removed.push([target, type, listener]);
          remove(type, listener, options);
        });
      }
      const { auth } = await signedInThenSlept();
      const resumeListeners = added.filter(([, type]) => resumeEvents.some(([, resumeType]) => resumeType === type));
      expect(resumeListeners.map(([target, type]) => [target === window ? 'window' : 'document', type])).toEqual(
        expect.arrayContaining(resumeEvents),
      );

      auth.destroy();

      for (const [target, type, listener] of resumeListeners) {
        const wasRemoved = removed.some((entry) => entry[0] === target && entry[1] === type && entry[2] === listener);
        expect(wasRemoved, `the '${type}' listener was removed`).toBe(true);
      }
    });
  });
});
