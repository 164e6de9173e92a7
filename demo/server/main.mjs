// The demo server from the command line (`npm run demo` ends here): the reference backend on 127.0.0.1, serving
// the demo page built into demo/web/dist/. Every setting comes from the environment, read here and nowhere else:
//
//   PORT           port to listen on (default 5173; 0 picks a free one)
//   TOKEN_TTL      access-token lifetime in seconds (default 20: short, so that refreshes happen while you watch)
//   REFRESH_GRACE  seconds a rotated refresh token may be replayed while its successor is unused (default 10)
//   REDIS_URL      redis://host:port: keep deny-list, refresh families and token versions in Redis, so that
//                  several servers share them (default: in memory, lost on exit)
//   JWT_SECRET     the HS256 key, at least 32 characters; servers sharing a Redis need the same one
//                  (default: random, so tokens die with the process)
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startAuthServer } from './app.mjs';

const PAGE_DIR = fileURLToPath(new URL('../web/dist/', import.meta.url));
const DEFAULT_PORT = 5173;

/** Ends the process with one line on stderr: what is wrong and what to do. */
function fail(message) {
  console.error(message);
  process.exit(1);
}

/** An integer environment variable within bounds, or its default; anything else ends the process, naming it. */
function readInteger(name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** `host:port` of a Redis URL, without the password it may carry. */
function describeRedis(redisUrl) {
  try {
    const { host } = new URL(redisUrl);
    return host || redisUrl;
  } catch {
    return 'an unparsable REDIS_URL';
  }
}

const port = readInteger('PORT', DEFAULT_PORT, 0, 65_535);
const accessTokenSeconds = readInteger('TOKEN_TTL', 20, 1, 24 * 60 * 60);
const refreshGraceSeconds = readInteger('REFRESH_GRACE', 10, 0, 60 * 60);
const redisUrl = process.env.REDIS_URL || undefined;
const secret = process.env.JWT_SECRET || undefined;
if (secret !== undefined && Buffer.byteLength(secret) < 32) fail('JWT_SECRET must be at least 32 characters long');

// The Redis client is loaded only when asked for: the in-memory demo starts without it.
let store;
if (redisUrl) {
  const { createRedisStore } = await import('./redis-store.mjs');
  try {
    store = await createRedisStore({ url: redisUrl });
  } catch (error) {
    fail(`Cannot connect to Redis at ${describeRedis(redisUrl)} (REDIS_URL): ${error?.message ?? error}`);
  }
}

const pageBuilt = existsSync(PAGE_DIR);
let server;
try {
  server = await startAuthServer({
    port,
    accessTokenSeconds,
    refreshGraceSeconds,
    store,
    secret,
    staticDir: pageBuilt ? PAGE_DIR : undefined,
    log: (line) => console.log(`[server] ${line}`),
  });
} catch (error) {
  await store?.close();
  if (error?.code === 'EADDRINUSE') {
    fail(`Port ${port} is already in use on 127.0.0.1: stop what uses it, or choose another, e.g. PORT=${port + 1}`);
  }
  if (error?.code === 'EACCES') fail(`Port ${port} needs privileges: choose another, e.g. PORT=${DEFAULT_PORT}`);
  throw error;
}

console.log(`tokenkeeper demo: ${server.url}`);
console.log(
  `  access tokens live ${accessTokenSeconds} s; refresh grace ${refreshGraceSeconds} s; ` +
    `store: ${redisUrl ? `Redis at ${describeRedis(redisUrl)}` : 'in memory'}`,
);
if (!pageBuilt) console.log('  the page is not built (demo/web/dist/ is missing): run `npm run demo` to build it');
console.log(`What to try (sign in with any name and the password "demo"):
  - watch the bar count down and the token refresh before it expires
  - "open another tab": the tabs share one refresh per cycle; "20 calls at once": twenty 401s, one refresh
  - "break the refresh endpoint for 15 s" and watch the client back off
  - "log out" in one tab: every tab signs out; "replay the old token" gets a 401 (denied)
  - "log out everywhere" ends sessions open in other browsers too
Ctrl-C stops the server.`);

let stopping = false;
async function stop(signal) {
  // A second Ctrl-C while closing means "now".
  if (stopping) process.exit(1);
  stopping = true;
  console.log(`\n${signal}: stopping`);
  await server.close();
  await store?.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
