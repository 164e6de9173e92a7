// A real Redis for the tests of the demo server's Redis store: Debian's `redis-server`, started on 127.0.0.1 on a
// free port, without persistence (`--save '' --appendonly no`), stopped after the file's tests.
//
// Without redis-server the Redis half of a test file cannot run. Under CI (`CI` set) or with
// TOKENKEEPER_REQUIRE_REDIS=1 that is a failing test, so a CI machine without Redis never passes by skipping;
// elsewhere the file prints one loud line and runs its in-memory half only. TOKENKEEPER_REDIS_SERVER names another
// redis-server binary (a path; one that does not exist shows what a machine without Redis does).
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** The redis-server binary: TOKENKEEPER_REDIS_SERVER when set, else the one on PATH; `null` when there is none. */
export function findRedisServer(): string | null {
  const chosen = process.env.TOKENKEEPER_REDIS_SERVER;
  if (chosen !== undefined && chosen !== '') return isExecutable(chosen) ? chosen : null;
  const directories = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return directories.map((directory) => join(directory, 'redis-server')).find(isExecutable) ?? null;
}

/** Whether a missing redis-server fails the tests instead of skipping their Redis half. */
export function isRedisRequired(): boolean {
  const ci = process.env.CI;
  return (
    process.env.TOKENKEEPER_REQUIRE_REDIS === '1' || (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0')
  );
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });

/** Starts redis-server once on a free port; rejects with its output when it does not become ready. */
function startOnce(binary: string, port: number): Promise<RedisServer> {
  const child: ChildProcess = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A crashed test worker must not leave the server running.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`redis-server on port ${port} was not ready after 10 s:\n${output}`));
    }, 10_000);
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes('Ready to accept connections')) return;
      clearTimeout(timer);
      child.stdout?.off('data', onOutput);
      // Keep draining its output so that it never blocks on a full pipe.
      child.stdout?.resume();
      resolve({ url: `redis://127.0.0.1:${port}`, port, stop });
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited (${code}) before it was ready:\n${output}`));
    });
  });
}

/** Starts a private redis-server on 127.0.0.1 (another port when the free one was taken meanwhile). */
export async function startRedisServer(binary: string): Promise<RedisServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      return await startOnce(binary, await freePort());
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * For a test file with a Redis half: starts redis-server before the file's tests and stops it after, and answers
 * a getter for its URL; answers `null` when redis-server is missing (then, when Redis is required, it adds a
 * failing test saying so; otherwise it prints one loud line).
 */
export function setupRedisServer(fileName: string): { readonly url: string } | null {
  const binary = findRedisServer();
  if (!binary) {
    const message =
      'redis-server is not installed, so the Redis half of the demo server tests was NOT run ' +
      '(install it: apt-get install -y redis-server)';
    if (isRedisRequired()) {
      describe('Redis', () => {
        it('has redis-server to run the Redis store tests against', () => {
          throw new Error(`${message}; CI or TOKENKEEPER_REQUIRE_REDIS=1 makes that a failure`);
        });
      });
    } else {
      console.warn(`!!! ${fileName}: ${message}. Only the in-memory half ran.`);
    }
    return null;
  }
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedisServer(binary);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get url() {
      if (!server) throw new Error('redis-server is not started yet (use the URL inside a test or hook)');
      return server.url;
    },
  };
}
