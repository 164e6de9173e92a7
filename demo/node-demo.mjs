// The whole lifecycle against a real HTTP server on 127.0.0.1 (the reference backend of demo/server/), with the
// built package: login, a proactive refresh, the app reopened after expiry with 10 concurrent requests sharing
// one refresh, and a logout that the server learns of, after which the old access token is refused (deny-list).
// Exits non-zero if the server's counts are not as expected.
import { createTokenManager } from '../dist/index.js';
import { startAuthServer } from './server/app.mjs';

const ACCESS_TOKEN_SECONDS = 3;
const server = await startAuthServer({ accessTokenSeconds: ACCESS_TOKEN_SECONDS });
const started = Date.now();
const log = (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(2).padStart(5)} s] ${line}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A storage that outlives a manager, as localStorage outlives a page.
const values = new Map();
const storage = {
  getItem: (key) => values.get(key) ?? null,
  setItem: (key, value) => values.set(key, value),
  removeItem: (key) => values.delete(key),
};

function open() {
  const auth = createTokenManager({
    refresh: { url: `${server.url}/auth/refresh` },
    logout: { url: `${server.url}/auth/logout` },
    storage,
    refreshMargin: 1_000,
    allowedOrigins: [server.url],
    onResume: () => () => {},
  });
  auth.on('login', (e) => log(`event login    source=${e.source}`));
  auth.on('refresh', (e) =>
    log(`event refresh  source=${e.source}, expires in ${((e.expiresAt - Date.now()) / 1000).toFixed(1)} s`),
  );
  auth.on('logout', (e) => log(`event logout   reason=${e.reason}`));
  auth.on('error', (e) => log(`event error    ${e.error.name}: ${e.error.message}`));
  return auth;
}

log(`auth server on ${server.url}, access tokens live ${ACCESS_TOKEN_SECONDS} s, refresh margin 1 s`);
let auth = open();

const login = await fetch(`${server.url}/auth/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ username: 'ada', password: 'demo' }),
});
const tokens = await login.json();
await auth.setTokens({
  accessToken: tokens.access_token,
  refreshToken: tokens.refresh_token,
  expiresIn: tokens.expires_in,
});
log(`signed in as ${auth.getState().claims.sub}`);

log('waiting for the proactive refresh (due 1 s before expiry)…');
await new Promise((resolve) => {
  const off = auth.on('refresh', () => {
    off();
    resolve();
  });
});
const me = await auth.fetch(`${server.url}/api/me`);
log(`GET /api/me → ${me.status} ${JSON.stringify(await me.json())}`);

log('closing the app; storage is kept');
auth.destroy();
await sleep(ACCESS_TOKEN_SECONDS * 1000 + 200);
log('reopened after the access token expired: 10 concurrent requests');
const refreshesBefore = server.counts.refreshes;
auth = open();
const statuses = await Promise.all(
  Array.from({ length: 10 }, () => auth.fetch(`${server.url}/api/me`).then((r) => r.status)),
);
const sharedRefreshes = server.counts.refreshes - refreshesBefore;
log(`statuses ${statuses.join(' ')}; refresh calls for all 10: ${sharedRefreshes}`);

const tokenBeforeLogout = auth.getState().accessToken;
const { serverNotified } = await auth.logout();
log(`logged out; server notified: ${serverNotified}; state ${auth.getState().status}`);
const after = await auth.fetch(`${server.url}/api/me`);
log(`GET /api/me after logout → ${after.status} (sent without a token)`);
// A copy of the access token kept from before the logout (stolen, or in another app) is refused too: the
// logout put its jti on the server's deny-list until it expires.
const replay = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${tokenBeforeLogout}` } });
const { reason } = await replay.json();
log(`GET /api/me with the access token from before the logout → ${replay.status} (${reason})`);
auth.destroy();

const counts = { ...server.counts };
await server.close();
console.log('\nserver counts:', counts);
const expected =
  counts.logins === 1 &&
  counts.refreshes === 2 &&
  sharedRefreshes === 1 &&
  counts.reuseDetected === 0 &&
  counts.logouts === 1 &&
  statuses.every((status) => status === 200) &&
  after.status === 401 &&
  replay.status === 401 &&
  reason === 'denied' &&
  counts.deniedTokens === 1 &&
  serverNotified;
console.log(expected ? 'demo ok' : 'demo FAILED: the counts above are not as expected');
process.exit(expected ? 0 : 1);
