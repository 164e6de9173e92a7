import { it } from 'vitest';
import { createTokenManager } from '../../dist/index.js';
import { jwt, sleep } from './helpers';
for (const [name, bNow, gap] of [['same tick', 0, -1], ['B +1ms', 1, -1], ['B +5ms', 5, -1], ['B -5ms', -5, -1], ['gap microtask', 0, 0], ['gap 1ms timer', 0, 1], ['gap 5ms', 0, 5]] as const) it(name, async () => {
  const ch = 'dbg-' + Math.random();
  const msgs: string[] = [];
  const bc = new BroadcastChannel(ch); bc.onmessage = (e) => msgs.push(`${e.data.type}:${e.data.stamp ?? e.data.session?.stamp}`);
  const a = createTokenManager({ channel: ch, refresh: async () => ({ accessToken: jwt(3600) }) });
  const b = createTokenManager({ channel: ch, refresh: async () => ({ accessToken: jwt(3600) }), environment: { now: () => Date.now() + bNow } });
  await a.ready; await b.ready;
  const p1 = a.setTokens({ accessToken: jwt(3600), refreshToken: 'ra' });
  if (gap === 0) await Promise.resolve(); else if (gap > 0) await sleep(gap);
  const bState = b.getState().status;
  const p2 = b.logout();
  await Promise.all([p1, p2]);
  await sleep(60);
  console.log(name, 'B at logout call:', bState, '→', a.getState().status, b.getState().status, msgs.join(' '));
  a.destroy(); b.destroy(); bc.close();
});
