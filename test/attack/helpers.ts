// Helpers for the attack tests. They use the BUILT package (dist/, imported as `#built`), as a user would.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export function makeJwt(payload: Record<string, unknown>): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(payload)}.c2ln`;
}

let n = 0;
export function jwt(lifetimeSeconds = 3600, extra: Record<string, unknown> = {}, nowMs = Date.now()): string {
  const iat = Math.floor(nowMs / 1000);
  n += 1;
  return makeJwt({ sub: 'u1', iat, exp: iat + lifetimeSeconds, jti: `j${n}-${Math.random()}`, ...extra });
}

export interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse, seen: Seen) => void | Promise<void>;

export interface TestServer {
  origin: string;
  seen: Seen[];
  handler: Handler;
  close(): Promise<void>;
}

export async function startServer(
  handler: Handler = (_q, _b, res) => {
    res.end('ok');
  },
): Promise<TestServer> {
  const seen: Seen[] = [];
  const ts: TestServer = { origin: '', seen, handler, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: { ...req.headers },
        body: Buffer.concat(chunks),
      };
      seen.push(s);
      Promise.resolve(ts.handler(req, s.body, res, s)).catch((e) => {
        res.statusCode = 500;
        res.end(String(e));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  ts.origin = `http://127.0.0.1:${port}`;
  ts.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections?.();
      server.close(() => r());
    });
  return ts;
}

export const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

/** A fetch spy that records what auth.fetch hands to fetch, as a Request, and answers from `answer`. */
export function spyFetch(answer: (req: Request, i: number) => Response | Promise<Response> = () => new Response('ok')) {
  const calls: Request[] = [];
  const bodies: Promise<Uint8Array>[] = [];
  const fn = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input as RequestInfo, init);
    calls.push(req);
    bodies.push(
      req
        .clone()
        .arrayBuffer()
        .then((b) => new Uint8Array(b)),
    );
    return answer(req, calls.length - 1);
  };
  return { fn: fn as typeof fetch, calls, bodies };
}

export function bearer(token: string) {
  return `Bearer ${token}`;
}
