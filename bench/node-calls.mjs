// The cost of one call in Node: `auth.fetch` (GET and POST) and `auth.getAccessToken()` with a valid token,
// against hand-written floors that do the least the job needs. Every side sends to a stub fetch that answers
// at once, so what is timed is each one's own work. The sides run in interleaved rounds and the
// verdict is the median of the per-round ratios, which holds up against the machine's drift better than two
// separate averages.
import { formatNs, formatRatio, isChild, median, runInChild, serveChild } from './report.mjs';

/** Largest tokenkeeper ÷ `new Headers` wrapper ratio allowed for `auth.fetch`, enforced in full runs only. */
export const MAX_FETCH_RATIO = 1.5;

const URL_TO_CALL = 'https://api.test/items?page=1';
const BATCH_SIZE = 50;

const SETTINGS = {
  // In each round every side makes `runsPerRound` runs of about `runMs` of CPU each (the call count of a run
  // is calibrated once, per side), and counts its fastest.
  quick: { rounds: 9, runsPerRound: 3, runMs: 3 },
  full: { rounds: 21, runsPerRound: 3, runMs: 8 },
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

let copies = 0;

/**
 * A fresh copy of tokenkeeper and of the floors (a module imported under another URL is a new instance, with
 * code of its own). Each side of a comparison calls its own copy, so that the type feedback one side's calls
 * leave in shared functions does not speed up or slow down another side.
 */
async function loadCopy() {
  copies += 1;
  const [core, wrappers, holder] = await Promise.all([
    import(`../dist/index.js?copy=${copies}`),
    import(`./floor/fetch-wrapper.js?copy=${copies}`),
    import(`./floor/token-holder.js?copy=${copies}`),
  ]);
  return { ...core, ...wrappers, ...holder };
}

/** The stub fetch: the same code for every side, compiled anew for each (see `loadCopy`). */
function createStub(response) {
  return new Function('response', 'return () => Promise.resolve(response);')(response);
}

/** tokenkeeper and the floors, from one copy, signed in with the same token and sending to `fetch`. */
async function createSubjects(fetch, tokens = createLoginTokens()) {
  const { createTokenManager, createTokenHolder, createHeadersWrapper, createPlainWrapper } = await loadCopy();
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

/** Warm-up before calibrating: enough calls for the JIT to compile the hot code at its top tier. */
const WARM_UP = { minCalls: 2_000, minMs: 100, maxMs: 1_000 };

/**
 * Warms `call` up, then returns how many calls make one run of `time` last about `targetMs` of CPU. Runs of
 * doubling length go on until the warm-up is done (at least `minCalls` calls and `minMs`, or `maxMs` for a
 * very slow call) and the last run lasted at least `targetMs`; the count is taken from that last, warm run.
 * (Taken from the first, cold call instead, a slow side would be timed over one or two cold calls a run.)
 */
async function calibrate(time, call, targetMs) {
  let count = 1;
  let calls = 0;
  let spentMs = 0;
  for (;;) {
    const elapsedMs = ((await time(call, count)) * count) / 1e6;
    calls += count;
    spentMs += elapsedMs;
    const warm = (calls >= WARM_UP.minCalls && spentMs >= WARM_UP.minMs) || spentMs >= WARM_UP.maxMs;
    if ((warm && elapsedMs >= targetMs) || count >= 1 << 24) {
      return Math.max(1, Math.round((count * targetMs) / elapsedMs));
    }
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

/** A small seeded generator (mulberry32): the run order is shuffled, and the same from one run to the next. */
function createRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

function shuffle(items, random) {
  for (let index = items.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other], items[index]];
  }
  return items;
}

/**
 * Times `sides[0]` (tokenkeeper) against the others in interleaved rounds. In a round, every side makes
 * `runsPerRound` runs, in an order shuffled anew for each pass (a fixed order would always put the same side
 * after tokenkeeper, and so charge it for what tokenkeeper leaves behind), and its figure for
 * the round is its fastest run: other processes only ever add time, so the fastest run is the least disturbed.
 * Returns, per side, the median of its round figures (ns/call) and the median and range of the per-round
 * ratios `sides[0] ÷ side`.
 */
async function compare(sides, time, { rounds, runsPerRound, runMs }) {
  const counts = [];
  for (const side of sides) {
    await settle();
    counts.push(await calibrate(time, side.call, runMs));
  }
  const samples = sides.map(() => []);
  const random = createRandom(sides.length);
  for (let round = 0; round < rounds; round += 1) {
    const fastest = sides.map(() => Number.POSITIVE_INFINITY);
    for (let run = 0; run < runsPerRound; run += 1) {
      for (const index of shuffle(
        sides.map((_, index) => index),
        random,
      )) {
        await settle();
        fastest[index] = Math.min(fastest[index], await time(sides[index].call, counts[index]));
      }
    }
    for (const [index, ns] of fastest.entries()) samples[index].push(ns);
  }
  return sides.map((side, index) => {
    // The control is compared with the floor it copies (side 1): their ratio shows the noise of the method.
    const reference = side.control ? samples[1] : samples[0];
    const ratios = reference.map((ns, round) => ns / samples[index][round]);
    return {
      ...side,
      ns: median(samples[index]),
      ratio: median(ratios),
      low: Math.min(...ratios),
      high: Math.max(...ratios),
    };
  });
}

/** Runs in a `node --expose-gc` child (see `runInChild`), which gives every side a collected heap to start from. */
async function measure({ quick }, log) {
  if (typeof globalThis.gc !== 'function') throw new Error('node-calls must run with --expose-gc');
  const settings = quick ? SETTINGS.quick : SETTINGS.full;
  const failures = [];
  const enforce = !quick;

  log('node-calls: checking that every side sends the token');
  await verifySides();

  const response = new Response(null, { status: 200 });
  const tokens = createLoginTokens();
  const destroyers = [];
  /** One side: a copy of the subjects of its own, with a stub of its own; `pick` returns the call to time. */
  const side = async (label, pick, extra = {}) => {
    const subjects = await createSubjects(createStub(response), tokens);
    destroyers.push(() => subjects.auth.destroy());
    return { label, call: pick(subjects), ...extra };
  };
  /** The fetch sides; every call gets a fresh `init` from `init()` (none for a GET). */
  const fetchSides = (init) => {
    const fetchSide = (label, pickFetch, extra) =>
      side(
        label,
        (subjects) => {
          const fetch = pickFetch(subjects);
          return () => fetch(URL_TO_CALL, init?.());
        },
        extra,
      );
    return Promise.all([
      fetchSide('tokenkeeper `auth.fetch`', ({ auth }) => auth.fetch),
      fetchSide('wrapper with `new Headers` (floor)', ({ headersWrapper }) => headersWrapper, { budgeted: true }),
      fetchSide('wrapper spreading a plain object', ({ plainWrapper }) => plainWrapper),
      fetchSide('hand-written token holder `fetch`', ({ holder }) => holder.fetch),
      fetchSide('reference: `new Request()` + stub', ({ requestReference }) => requestReference),
      fetchSide(
        'control: a second `new Headers` wrapper (ratio: floor ÷ this)',
        ({ headersWrapper }) => headersWrapper,
        {
          control: true,
        },
      ),
    ]);
  };
  const tokenSides = () =>
    Promise.all([
      side(
        'tokenkeeper `auth.getAccessToken()`',
        ({ auth }) =>
          () =>
            auth.getAccessToken(),
      ),
      side(
        '`async () => token` (floor)',
        ({ token }) =>
          async () =>
            token,
      ),
      side(
        'hand-written token holder (expiry check)',
        ({ holder }) =>
          () =>
            holder.getAccessToken(),
      ),
    ]);
  const comparisons = [
    { summaryKey: 'fetchGet', name: 'GET', createSides: () => fetchSides(undefined) },
    { summaryKey: 'fetchPost', name: 'POST (JSON body)', createSides: () => fetchSides(postInit) },
    { summaryKey: 'getAccessToken', name: 'getAccessToken()', createSides: tokenSides },
  ];

  const summary = {};
  const tables = [];
  const modes = [
    ['sequential', timeSequential, 'Sequential calls, each awaited (ns per call)'],
    ['batch', timeBatches, `Batches of ${BATCH_SIZE} concurrent calls, awaited together (ns per call)`],
  ];
  // Concurrent batches are informative, not budgeted: a quick run leaves them out.
  for (const [mode, time, caption] of quick ? modes.slice(0, 1) : modes) {
    const rows = [];
    for (const comparison of comparisons) {
      const sides = await comparison.createSides();
      log(`node-calls: ${comparison.name}, ${mode}, ${settings.rounds} rounds of ${sides.length} sides`);
      const measured = await compare(sides, time, settings);
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
      const control = measured.find((side) => side.control);
      if (control) summary[`${comparison.summaryKey}ControlRatio${suffix}`] = Number(control.ratio.toFixed(2));
    }
    tables.push({
      caption,
      header: ['call', 'implementation', 'ns/call', 'tokenkeeper ÷ this', 'round range', 'budget'],
      rows,
    });
  }
  for (const destroy of destroyers) destroy();

  const notes = [
    `Every side calls a stub fetch that resolves at once with one prepared \`Response\`, and runs its own copy of tokenkeeper, the floors and the stub (imported or compiled anew for it), so that no side's calls shape the compiled code another side runs; the manager is signed in with a JWT valid for an hour, so no refresh happens. URL \`${URL_TO_CALL}\`; the POST passes \`{ method, headers: { 'content-type' }, body: JSON.stringify(...) }\`, built afresh for every call on every side. Before timing, a recording fetch checks that each side sends \`Authorization: Bearer\` and the body.`,
    `Interleaved rounds (${settings.rounds}), in a child \`node --expose-gc --single-threaded-gc --no-flush-bytecode\` process (the last so that the forced collections do not discard the compiled code of sides waiting for their turn): in each round every side makes ${settings.runsPerRound} runs of about ${settings.runMs} ms of CPU (its call count calibrated once, after a warm-up of at least ${WARM_UP.minCalls} calls and ${WARM_UP.minMs} ms, so a fast and a slow side get the same time, not the same count), in an order shuffled anew for every pass (seeded, so the same from run to run), and counts its fastest run (other processes only add time). Before every run the event loop turns and the heap is collected, so that no side pays for another's garbage; the collector runs on the main thread, so each side pays for its own. Times are the CPU time of the process (\`process.cpuUsage()\`), not the wall clock. ns/call is the median over rounds; "tokenkeeper ÷ this" is the median of the per-round ratios; the range is their minimum and maximum.`,
    'The floor for the budget is the wrapper most people write (`new Headers(init.headers)`, set `Authorization`, call fetch). The plain-object one is leaner but drops headers given as a `Headers` object or as pairs. The token holder (`bench/floor/token-holder.js`) also checks expiry first. The `new Request()` row is not a floor: it shows what building one `Request` per call costs in this Node, which an implementation that builds one pays at least. The control row times a second copy of the floor and gives floor ÷ copy: the further it is from 1.00×, the noisier the machine was.',
    enforce
      ? `Budget: \`auth.fetch\` GET and POST at most ${formatRatio(MAX_FETCH_RATIO)} the \`new Headers\` wrapper (sequential).`
      : `Budget (\`auth.fetch\` GET and POST at most ${formatRatio(MAX_FETCH_RATIO)} the \`new Headers\` wrapper) is reported but not enforced in \`--quick\` runs: CI machines are too noisy for it. A quick run also leaves out the batches of ${BATCH_SIZE} concurrent calls.`,
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
