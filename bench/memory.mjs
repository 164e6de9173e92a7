// Memory: the heap after garbage collection before and after thousands of manager lifetimes
// (create, log in, destroy) and thousands of refreshes on one manager, and what a destroyed manager leaves
// behind (timers, resume listeners, channels). Runs in a `node --expose-gc` child process.
import { createTokenManager } from '../dist/index.js';
import { formatInteger, isChild, runInChild, serveChild } from './report.mjs';

/** Largest heap growth per cycle, after gc, that is not a leak (bytes). */
export const MAX_GROWTH_PER_CYCLE_BYTES = 1024;

const CYCLES = {
  quick: { managers: 1_000, refreshes: 2_000 },
  full: { managers: 5_000, refreshes: 10_000 },
};
const WARM_UP_CYCLES = 200;
const REFRESH_URL = 'https://api.test/auth/refresh';

/** An unsigned JWT (`alg: none`) valid for an hour: the library only decodes it. */
function createJwt(subject) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const nowSeconds = Math.floor(Date.now() / 1000);
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub: subject, iat: nowSeconds, exp: nowSeconds + 3600 })}.`;
}

/**
 * Platform pieces handed to every manager through its `environment` and `onResume` options, counting what
 * is open: timers set and neither fired nor cleared, resume subscriptions, channels and their handlers.
 */
function createProbe() {
  const timers = new Set();
  const channels = new Set();
  let resumeSubscriptions = 0;
  return {
    environment: {
      setTimeout(callback, delayMs) {
        const handle = setTimeout(() => {
          timers.delete(handle);
          callback();
        }, delayMs);
        timers.add(handle);
        return handle;
      },
      clearTimeout(handle) {
        timers.delete(handle);
        clearTimeout(handle);
      },
      createChannel() {
        const channel = {
          onmessage: null,
          postMessage() {},
          close() {
            channels.delete(channel);
          },
        };
        channels.add(channel);
        return channel;
      },
    },
    onResume() {
      resumeSubscriptions += 1;
      return () => {
        resumeSubscriptions -= 1;
      };
    },
    open() {
      return {
        timers: timers.size,
        resumeListeners: resumeSubscriptions,
        channels: channels.size,
        channelHandlers: [...channels].filter((channel) => channel.onmessage !== null).length,
        nodeTimers: process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length,
      };
    },
  };
}

function createManager(probe, fetch) {
  return createTokenManager({
    refresh: { url: REFRESH_URL },
    allowedOrigins: ['https://api.test'],
    storage: 'memory',
    // A named channel, so that the cross-tab machinery runs too (through the probe's in-memory channel).
    channel: 'bench',
    fetch,
    onResume: probe.onResume,
    environment: probe.environment,
  });
}

const nextTask = () => new Promise((resolve) => setImmediate(resolve));

/** Heap in use after the event loop turned (finalizers ran) and two full collections. */
async function heapAfterGc() {
  for (let pass = 0; pass < 2; pass += 1) {
    await nextTask();
    globalThis.gc();
  }
  return process.memoryUsage().heapUsed;
}

/** The refresh endpoint: a new token pair for every call. */
function createRefreshServer() {
  let served = 0;
  return async (input) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url !== REFRESH_URL) return new Response(null, { status: 404 });
    served += 1;
    const body = { access_token: createJwt(`bench-${served}`), refresh_token: `r-${served}`, expires_in: 3600 };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  };
}

/** One manager lifetime: create, wait until ready, log in, destroy. */
async function managerLifetime(probe, index) {
  const auth = createManager(probe, () => Promise.resolve(new Response(null, { status: 204 })));
  await auth.ready;
  await auth.setTokens({ accessToken: createJwt(`user-${index}`), refreshToken: `r-${index}` });
  auth.destroy();
}

/**
 * Runs `cycle` `count` times in two halves, with the heap measured after gc before, between and after (the gc
 * between is not timed). The second half's growth tells a leak (it grows with every cycle) from a one-time
 * allocation (a cache, compiled code) that the first half absorbs.
 */
async function measureCycles(count, cycle) {
  const heapBefore = await heapAfterGc();
  let elapsedMs = 0;
  let cpuMs = 0;
  const half = async (cycles) => {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    for (let index = 0; index < cycles; index += 1) await cycle(index);
    elapsedMs += performance.now() - start;
    const { user, system } = process.cpuUsage(cpuStart);
    cpuMs += (user + system) / 1000;
  };
  const firstHalf = Math.floor(count / 2);
  await half(firstHalf);
  const heapMiddle = await heapAfterGc();
  await half(count - firstHalf);
  const heapAfter = await heapAfterGc();
  return { heapBefore, heapMiddle, heapAfter, secondHalf: count - firstHalf, elapsedMs, cpuMs };
}

async function measure({ quick }, log) {
  if (typeof globalThis.gc !== 'function') throw new Error('memory must run with --expose-gc');
  const cycles = quick ? CYCLES.quick : CYCLES.full;
  const probe = createProbe();
  const baseline = probe.open();

  log(`memory: ${formatInteger(cycles.managers)} manager lifetimes (create, log in, destroy)`);
  for (let index = 0; index < WARM_UP_CYCLES; index += 1) await managerLifetime(probe, index);
  const lifetimes = await measureCycles(cycles.managers, (index) => managerLifetime(probe, index));
  const afterLifetimes = probe.open();

  log(`memory: ${formatInteger(cycles.refreshes)} refreshes on one manager`);
  const auth = createManager(probe, createRefreshServer());
  await auth.ready;
  await auth.setTokens({ accessToken: createJwt('refresher'), refreshToken: 'r-0' });
  for (let index = 0; index < WARM_UP_CYCLES; index += 1) await auth.refresh();
  const refreshes = await measureCycles(cycles.refreshes, () => auth.refresh());
  const duringRefreshes = probe.open();
  auth.destroy();
  await nextTask();
  const afterRefreshes = probe.open();

  return {
    cycles,
    baseline,
    afterLifetimes,
    duringRefreshes,
    afterRefreshes,
    lifetimes,
    refreshes,
  };
}

export async function run({ quick, log }) {
  const measured = await runInChild(import.meta.url, { quick }, log);
  const { cycles, baseline } = measured;
  const failures = [];
  const summary = {};

  const heapRows = [];
  for (const [key, label, count, result] of [
    ['managerLifetime', 'create, log in, destroy', cycles.managers, measured.lifetimes],
    ['refresh', '`auth.refresh()` on one manager', cycles.refreshes, measured.refreshes],
  ]) {
    const growth = result.heapAfter - result.heapBefore;
    const perCycle = growth / count;
    const met = perCycle <= MAX_GROWTH_PER_CYCLE_BYTES;
    if (!met) {
      failures.push(
        `${label}: the heap grew ${formatInteger(perCycle)} B per cycle after gc over ${formatInteger(count)} cycles ` +
          `(budget ${formatInteger(MAX_GROWTH_PER_CYCLE_BYTES)} B)`,
      );
    }
    const secondHalfPerCycle = (result.heapAfter - result.heapMiddle) / result.secondHalf;
    summary[`${key}GrowthPerCycleBytes`] = Math.round(perCycle);
    summary[`${key}SecondHalfGrowthPerCycleBytes`] = Math.round(secondHalfPerCycle);
    const microseconds = (ms) => ((ms * 1000) / count).toFixed(1);
    summary[`${key}Us`] = Number(microseconds(result.elapsedMs));
    heapRows.push([
      label,
      formatInteger(count),
      formatInteger(result.heapBefore),
      formatInteger(result.heapAfter),
      formatInteger(growth),
      formatInteger(perCycle),
      formatInteger(secondHalfPerCycle),
      `≤ ${formatInteger(MAX_GROWTH_PER_CYCLE_BYTES)}: ${met ? 'ok' : 'MISSED'}`,
      microseconds(result.elapsedMs),
      microseconds(result.cpuMs),
    ]);
  }

  const leftRows = [];
  const resources = [
    ['timers (through `environment`)', 'timers'],
    ['Node timers (`process.getActiveResourcesInfo()`)', 'nodeTimers'],
    ['resume listeners (`onResume`)', 'resumeListeners'],
    ['channels open', 'channels'],
    ['channel message handlers', 'channelHandlers'],
  ];
  let left = 0;
  for (const [label, key] of resources) {
    const afterLifetimes = measured.afterLifetimes[key] - baseline[key];
    const afterRefreshes = measured.afterRefreshes[key] - baseline[key];
    const whileLive = measured.duringRefreshes[key] - baseline[key];
    left += Math.max(0, afterLifetimes) + Math.max(0, afterRefreshes);
    if (afterLifetimes > 0 || afterRefreshes > 0) {
      failures.push(`${label}: ${afterLifetimes + afterRefreshes} left after destroy()`);
    }
    leftRows.push([label, String(whileLive), String(afterLifetimes), String(afterRefreshes)]);
  }
  summary.leftAfterDestroy = left;

  return {
    title: 'Memory',
    intro:
      'Whether the heap comes back to where it was after many manager lifetimes and many refreshes, and whether ' +
      'a destroyed manager leaves anything running.',
    tables: [
      {
        caption: 'Heap in use after gc (bytes)',
        header: [
          'cycle',
          'cycles',
          'heap before',
          'heap after',
          'growth',
          'growth per cycle',
          'per cycle, second half',
          'budget per cycle',
          'µs per cycle',
          'CPU µs per cycle',
        ],
        rows: heapRows,
      },
      {
        caption: 'Left open, above what was open before the first manager',
        header: [
          'resource',
          'one manager alive',
          `after ${formatInteger(cycles.managers)} destroy()`,
          'after the refresh manager’s destroy()',
        ],
        rows: leftRows,
      },
    ],
    notes: [
      `Measured in a child \`node --expose-gc\` process. Each run starts with ${WARM_UP_CYCLES} cycles that are not counted (compiled code and caches belong in the baseline); "heap after gc" is \`process.memoryUsage().heapUsed\` after the event loop turned and two full collections.`,
      'Each manager: `storage: "memory"`, a named channel through an in-memory fake (so that the cross-tab code runs), `onResume` and the timers through counting wrappers, a JWT valid for an hour. The refresh endpoint is a stub fetch that answers every call with a new token pair (JSON, as the built-in endpoint expects), and `auth.refresh()` is awaited one call at a time.',
      '"Growth per cycle" is the whole growth divided by the cycles; "second half" measures only the second half of the cycles (the heap is also measured, after gc, half-way): a leak grows in both, a one-time allocation (a cache, compiled code) only in the first.',
      `Budget: at most ${formatInteger(MAX_GROWTH_PER_CYCLE_BYTES)} B of growth per cycle, and nothing left open after \`destroy()\`. "One manager alive" shows what a signed-in manager holds (its refresh timer, resume listener and channel), to show the counters see them.`,
      '"µs per cycle" is wall time; "CPU µs" is the CPU time of the process (all threads) over the same cycles. Where the first is well above the second, the cycle waits for timers or the event loop rather than computing.',
    ],
    failures,
    summary,
  };
}

if (isChild()) serveChild(measure);
