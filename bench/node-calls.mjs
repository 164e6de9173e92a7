// The cost of one call in Node: `auth.fetch` (GET and POST) and `auth.getAccessToken()` with a valid token,
// against hand-written floors that do the least the job needs. Both sides send to the same stub fetch, which
// answers at once, so what is timed is the library's own work. The sides run in interleaved rounds and the
// verdict is the median of the per-round ratios, which holds up against the machine's drift better than two
// separate averages.
import { createTokenManager } from '../dist/index.js';
import { createHeadersWrapper, createPlainWrapper } from './floor/fetch-wrapper.js';
import { createTokenHolder } from './floor/token-holder.js';
import { formatNs, formatRatio, isChild, median, runInChild, serveChild } from './report.mjs';

/** Largest tokenkeeper ÷ `new Headers` wrapper ratio allowed for `auth.fetch`, enforced in full runs only. */
export const MAX_FETCH_RATIO = 1.5;

const URL_TO_CALL = 'https://api.test/items?page=1';
const BATCH_SIZE = 50;

const SETTINGS = {
  // Each side of a round runs for about `roundMs`; its call count is calibrated once, per side.
  quick: { rounds: 9, roundMs: 10 },
  full: { rounds: 31, roundMs: 40 },
};

const postInit = () => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ a: 1, b: 'x' }),
});

/** An unsigned JWT (`alg: none`): the library only decodes it. */
function createJwt(claims) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
}

function createLoginTokens() {
  const nowSeconds = Math.floor(Date.now() / 1000);
  return { accessToken: createJwt({ sub: 'bench', iat: nowSeconds, exp: nowSeconds + 3600 }), refreshToken: 'r-1' };
}

/** tokenkeeper and the floors, signed in with the same token and sending to `fetch`. */
async function createSubjects(fetch) {
  const tokens = createLoginTokens();
  const auth = createTokenManager({
    refresh: { url: 'https://api.test/auth/refresh' },
    allowedOrigins: ['https://api.test'],
    storage: 'memory',
    fetch,
  });
  await auth.setTokens(tokens);
  const holder = createTokenHolder({
    refreshTokens: () => Promise.reject(new Error('the benchmark never refreshes')),
    fetch,
  });
  holder.setTokens(tokens);
  const token = tokens.accessToken;
  return {
    token,
    auth,
    holder,
    headersWrapper: createHeadersWrapper(fetch, token),
    plainWrapper: createPlainWrapper(fetch, token),
    // Not a floor: what any implementation that builds a `Request` per call pays at least in Node.
    requestReference: (input, init) => fetch(new Request(input, init)),
  };
}

/** Checks, before any timing, that every fetch side really sends the bearer token (and the POST body). */
async function verifySides() {
  const seen = [];
  const recorder = async (input, init) => {
    const request = new Request(input, init);
    seen.push({
      authorization: request.headers.get('authorization'),
      method: request.method,
      body: await request.text(),
    });
    return new Response(null, { status: 200 });
  };
  const subjects = await createSubjects(recorder);
  const fetchers = {
    'auth.fetch': subjects.auth.fetch,
    'new Headers wrapper': subjects.headersWrapper,
    'plain-object wrapper': subjects.plainWrapper,
    'token holder': subjects.holder.fetch,
  };
  for (const [name, fetch] of Object.entries(fetchers)) {
    seen.length = 0;
    await fetch(URL_TO_CALL);
    await fetch(URL_TO_CALL, postInit());
    const [get, post] = seen;
    const bearer = `Bearer ${subjects.token}`;
    if (get?.authorization !== bearer || post?.authorization !== bearer || post.body !== '{"a":1,"b":"x"}') {
      throw new Error(`${name} did not send the bearer token and body as expected: ${JSON.stringify(seen)}`);
    }
  }
  subjects.auth.destroy();
}

/**
 * CPU time of this process in nanoseconds (all its threads, the garbage collector's included). Unlike the wall
 * clock, it does not count the time other processes take the CPU, which on a shared 2-core machine (or CI)
 * would land on whichever side happens to be running.
 */
function cpuNs() {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

/** CPU nanoseconds per call over `count` calls, each awaited before the next. */
async function timeSequential(call, count) {
  const start = cpuNs();
  for (let index = 0; index < count; index += 1) await call();
  return (cpuNs() - start) / count;
}

/** CPU nanoseconds per call over about `count` calls, in batches of `BATCH_SIZE` concurrent calls awaited together. */
async function timeBatches(call, count) {
  const batches = Math.ceil(count / BATCH_SIZE);
  const start = cpuNs();
  for (let index = 0; index < batches; index += 1) await Promise.all(Array.from({ length: BATCH_SIZE }, call));
  return (cpuNs() - start) / (batches * BATCH_SIZE);
}

/** How many repetitions make `time(call, n)` last about `targetMs` of CPU; doubles while too short to tell. */
async function calibrate(time, call, targetMs) {
  let count = 1;
  for (;;) {
    const elapsedMs = ((await time(call, count)) * count) / 1e6;
    if (elapsedMs >= targetMs / 4 || count >= 1 << 24) return Math.max(1, Math.ceil((count * targetMs) / elapsedMs));
    count *= 2;
  }
}

const nextTask = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Lets the previous side's leftovers run before the next side is timed, untimed: the event loop turns (a loop
 * of awaited calls that resolve at once never yields to it, so finalizers and other tasks wait), and the heap is
 * collected. Without it, a side pays to collect the garbage of the side before it.
 */
async function settle() {
  await nextTask();
  globalThis.gc();
  await nextTask();
}

/**
 * Times `sides[0]` (tokenkeeper) against the others in interleaved rounds: each round runs every side once,
 * in an order that rotates and reverses from round to round. Returns, per side, the median ns/call and the
 * median and range of the per-round ratios `sides[0] ÷ side`.
 */
async function compare(sides, time, { rounds, roundMs }) {
  const counts = [];
  for (const side of sides) {
    await settle();
    counts.push(await calibrate(time, side.call, roundMs));
    await settle();
    await time(side.call, counts.at(-1)); // warm-up at the calibrated length
  }
  const samples = sides.map(() => []);
  for (let round = 0; round < rounds; round += 1) {
    const order = sides.map((_, index) => (index + round) % sides.length);
    if (Math.floor(round / sides.length) % 2 === 1) order.reverse();
    for (const index of order) {
      await settle();
      samples[index].push(await time(sides[index].call, counts[index]));
    }
  }
  return sides.map((side, index) => {
    const ratios = samples[0].map((ns, round) => ns / samples[index][round]);
    return {
      ...side,
      ns: median(samples[index]),
      ratio: median(ratios),
      low: Math.min(...ratios),
      high: Math.max(...ratios),
    };
  });
}

/** Runs in a `node --expose-gc` child (see `run`), which gives every side a collected heap to start from. */
async function measure({ quick }, log) {
  if (typeof globalThis.gc !== 'function') throw new Error('node-calls must run with --expose-gc');
  const settings = quick ? SETTINGS.quick : SETTINGS.full;
  const failures = [];
  const enforce = !quick;

  log('node-calls: checking that every side sends the token');
  await verifySides();

  const response = new Response(null, { status: 200 });
  const stub = () => Promise.resolve(response);
  const subjects = await createSubjects(stub);
  const { auth, holder, token } = subjects;

  const fetchSides = (init) => [
    { label: 'tokenkeeper `auth.fetch`', call: () => auth.fetch(URL_TO_CALL, init?.()) },
    {
      label: 'wrapper with `new Headers` (floor)',
      call: () => subjects.headersWrapper(URL_TO_CALL, init?.()),
      budgeted: true,
    },
    { label: 'wrapper spreading a plain object', call: () => subjects.plainWrapper(URL_TO_CALL, init?.()) },
    { label: 'hand-written token holder `fetch`', call: () => holder.fetch(URL_TO_CALL, init?.()) },
    { label: 'reference: `new Request()` + stub', call: () => subjects.requestReference(URL_TO_CALL, init?.()) },
  ];
  const comparisons = [
    { summaryKey: 'fetchGet', name: 'GET', sides: fetchSides(undefined) },
    { summaryKey: 'fetchPost', name: 'POST (JSON body)', sides: fetchSides(postInit) },
    {
      summaryKey: 'getAccessToken',
      name: 'getAccessToken()',
      sides: [
        { label: 'tokenkeeper `auth.getAccessToken()`', call: () => auth.getAccessToken() },
        { label: '`async () => token` (floor)', call: async () => token },
        { label: 'hand-written token holder (expiry check)', call: () => holder.getAccessToken() },
      ],
    },
  ];

  const summary = {};
  const tables = [];
  for (const [mode, time, caption] of [
    ['sequential', timeSequential, 'Sequential calls, each awaited (ns per call)'],
    ['batch', timeBatches, `Batches of ${BATCH_SIZE} concurrent calls, awaited together (ns per call)`],
  ]) {
    const rows = [];
    for (const comparison of comparisons) {
      log(`node-calls: ${comparison.name}, ${mode}, ${settings.rounds} rounds`);
      const measured = await compare(comparison.sides, time, settings);
      for (const [index, side] of measured.entries()) {
        let budget = '';
        if (side.budgeted && mode === 'sequential') {
          const met = side.ratio <= MAX_FETCH_RATIO;
          budget = `≤ ${formatRatio(MAX_FETCH_RATIO)}: ${met ? 'ok' : enforce ? 'MISSED' : 'over (not enforced in --quick)'}`;
          if (!met && enforce) {
            failures.push(
              `auth.fetch ${comparison.name} costs ${formatRatio(side.ratio)} the \`new Headers\` wrapper ` +
                `(${formatNs(measured[0].ns)} vs ${formatNs(side.ns)} ns/call), over ${formatRatio(MAX_FETCH_RATIO)}`,
            );
          }
        }
        const isSubject = index === 0;
        rows.push([
          comparison.name,
          side.label,
          formatNs(side.ns),
          isSubject ? '' : formatRatio(side.ratio),
          isSubject ? '' : `${formatRatio(side.low)}–${formatRatio(side.high)}`,
          budget,
        ]);
      }
      const suffix = mode === 'sequential' ? 'Node' : 'NodeBatch';
      summary[`${comparison.summaryKey}Ns${suffix}`] = Math.round(measured[0].ns);
      summary[`${comparison.summaryKey}FloorNs${suffix}`] = Math.round(measured[1].ns);
      summary[`${comparison.summaryKey}Ratio${suffix}`] = Number(measured[1].ratio.toFixed(2));
    }
    tables.push({
      caption,
      header: ['call', 'implementation', 'ns/call', 'tokenkeeper ÷ this', 'round range', 'budget'],
      rows,
    });
  }
  auth.destroy();

  const notes = [
    `Every side calls the same stub fetch, which resolves at once with one prepared \`Response\`; the manager is signed in with a JWT valid for an hour, so no refresh happens. URL \`${URL_TO_CALL}\`; the POST passes \`{ method, headers: { 'content-type' }, body: JSON.stringify(...) }\`, built afresh for every call on every side. Before timing, a recording fetch checks that each side sends \`Authorization: Bearer\` and the body.`,
    `Interleaved rounds (${settings.rounds}): each round runs every side for about ${settings.roundMs} ms (its call count calibrated once, so a fast and a slow side get the same time, not the same count), in an order that rotates and reverses between rounds. ns/call is the median over rounds; "tokenkeeper ÷ this" is the median of the per-round ratios; the range is their minimum and maximum.`,
    'The floor for the budget is the wrapper most people write (`new Headers(init.headers)`, set `Authorization`, call fetch). The plain-object one is leaner but drops headers given as a `Headers` object or as pairs. The token holder (`bench/floor/token-holder.js`) also checks expiry first. The `new Request()` row is not a floor: it shows what building one `Request` per call costs in this Node, which an implementation that builds one pays at least.',
    enforce
      ? `Budget: \`auth.fetch\` GET and POST at most ${formatRatio(MAX_FETCH_RATIO)} the \`new Headers\` wrapper (sequential).`
      : `Budget (\`auth.fetch\` GET and POST at most ${formatRatio(MAX_FETCH_RATIO)} the \`new Headers\` wrapper) is reported but not enforced in \`--quick\` runs: CI machines are too noisy for it.`,
  ];

  return {
    title: 'Per-call cost in Node',
    intro: `What \`auth.fetch\` and \`getAccessToken()\` cost on top of fetch itself, in Node ${process.version}, against hand-written code that does the least the job needs.`,
    tables,
    notes,
    failures,
    summary,
  };
}

export function run({ quick, log }) {
  return runInChild(import.meta.url, { quick }, log);
}

if (isChild()) serveChild(measure);
