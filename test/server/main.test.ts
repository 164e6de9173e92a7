// The demo server's command line (demo/server/main.mjs), run as a child process: it starts fast, prints its URL,
// serves, stops with exit code 0 on SIGINT and SIGTERM (closing Redis too), and refuses a taken port or a bad
// setting with one line naming what to change.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { demoServerPath } from '../support/demo-server';
import { setupRedisServer } from '../support/redis';

const redis = setupRedisServer('test/server/main.test.ts');
const MAIN = demoServerPath('main.mjs');

interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: ChildProcess[] = [];
const held: Server[] = [];
afterEach(async () => {
  for (const child of running.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

function runMain(env: Record<string, string>): Run {
  // The settings of the environment the tests run in must not leak in.
  const { PORT, TOKEN_TTL, REDIS_URL, REFRESH_GRACE, JWT_SECRET, ...rest } = process.env;
  const child = spawn(process.execPath, [MAIN], { env: { ...rest, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

/** Resolves with the URL main.mjs prints once it listens, after the whole banner (its last line) arrived. */
async function urlOf(run: Run, timeoutMs = 10_000): Promise<string> {
  const startedAt = Date.now();
  while (Date.now() - startedAt < timeoutMs) {
    const match = /tokenkeeper demo: (http:\/\/127\.0\.0\.1:\d+)/.exec(run.stdout());
    if (match && run.stdout().includes('Ctrl-C stops the server.')) return match[1]!;
    if (run.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`main.mjs printed no URL:\n${run.stdout()}\n${run.stderr()}`);
}

/** A port on 127.0.0.1 that this test holds open (so main.mjs cannot have it), or that is closed again. */
async function holdPort(keepOpen: boolean): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  if (keepOpen) held.push(server);
  else await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('demo/server/main.mjs', () => {
  it('prints its URL and what to try, serves, and exits 0 on SIGINT', async () => {
    const startedAt = Date.now();
    const run = runMain({ PORT: '0', TOKEN_TTL: '7' });
    const url = await urlOf(run);
    console.log(`main.mjs printed its URL ${Date.now() - startedAt} ms after the spawn (Node's own start-up included)`);
    expect(run.stdout()).toContain('What to try');
    expect(run.stdout()).toContain('access tokens live 7 s');
    const stats = await fetch(`${url}/api/stats`);
    expect(stats.status).toBe(200);
    expect(await stats.json()).toMatchObject({ tokenTtl: 7 });
    expect((await fetch(`${url}/`)).status).toBe(200);

    run.child.kill('SIGINT');
    expect(await run.exit).toEqual({ code: 0, signal: null });
    expect(run.stderr()).toBe('');
  });

  it('refuses a taken port with one line naming it and how to choose another, and exits 1', async () => {
    const port = await holdPort(true);
    const run = runMain({ PORT: String(port) });
    expect(await run.exit).toEqual({ code: 1, signal: null });
    const lines = run.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Port ${port} is already in use`);
    expect(lines[0]).toMatch(/PORT=\d+/);
    expect(run.stdout()).toBe('');
  });

  it('refuses a bad setting or an unreachable Redis with one line naming the variable, and exits 1', async () => {
    const ttl = runMain({ PORT: '0', TOKEN_TTL: 'soon' });
    expect(await ttl.exit).toMatchObject({ code: 1 });
    expect(ttl.stderr()).toMatch(/^TOKEN_TTL must be an integer/);

    const closedPort = await holdPort(false);
    const unreachable = runMain({ PORT: '0', REDIS_URL: `redis://127.0.0.1:${closedPort}` });
    expect(await unreachable.exit).toMatchObject({ code: 1 });
    expect(unreachable.stderr()).toContain(`Cannot connect to Redis at 127.0.0.1:${closedPort} (REDIS_URL)`);
  });

  it.runIf(redis !== null)('with REDIS_URL, keeps its state in Redis and exits 0 on SIGTERM', async () => {
    const run = runMain({ PORT: '0', REDIS_URL: redis!.url });
    const url = await urlOf(run);
    expect(run.stdout()).toContain(`store: Redis at ${new URL(redis!.url).host}`);
    const login = await fetch(`${url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'ada', password: 'demo' }),
    });
    expect(login.status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exit).toEqual({ code: 0, signal: null });
  });
});
