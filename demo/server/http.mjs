// The HTTP plumbing under app.mjs's routes, on bare `node:http`: reading a bounded request body, answering JSON,
// cookies, the Bearer header, and serving the demo page's files. Nothing here knows about tokens.
import { readFile, realpath } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';

/**
 * A request the server refuses with a 4xx JSON answer `{ error, error_description? }`; thrown by a route or a
 * helper, answered by app.mjs's dispatcher. `error` is an OAuth-style code (`invalid_request`, `invalid_grant`, …).
 */
export class HttpError extends Error {
  /**
   * @param {number} status
   * @param {string} error
   * @param {string} [description] for people; never contains a token
   * @param {Record<string, string>} [headers]
   */
  constructor(status, error, description, headers = {}) {
    super(description ?? error);
    this.name = 'HttpError';
    this.status = status;
    this.error = error;
    this.description = description;
    this.headers = headers;
  }
}

/**
 * Answers `body` as JSON. `no-store` everywhere: an answer holding tokens must not sit in a cache (RFC 6749 §5.1),
 * and a cached 200 from `/api/me` would outlive the logout.
 * @param {import('node:http').ServerResponse} response
 * @param {number} status
 * @param {unknown} body
 * @param {Record<string, string | string[]>} [headers]
 */
export function sendJson(response, status, body, headers = {}) {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  response.end(JSON.stringify(body));
}

/**
 * Reads the request body, at most `maxBytes` of it, as an object: JSON (`application/json`) or a form
 * (`application/x-www-form-urlencoded`, as OAuth's RFC 6749 and RFC 7009 send). An empty body is `{}`.
 *
 * Other content types are refused (400), `text/plain` included: a page of another site can send JSON text as
 * `text/plain` without a CORS preflight, so accepting it would open the JSON routes to cross-site requests.
 * @param {import('node:http').IncomingMessage} request
 * @param {number} maxBytes
 * @returns {Promise<Record<string, unknown>>}
 */
export async function readBody(request, maxBytes) {
  const text = (await readRawBody(request, maxBytes)).toString('utf8');
  if (text.trim() === '') return {};
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(text));
  if (type !== 'application/json') {
    throw new HttpError(
      400,
      'invalid_request',
      'send the body as application/json or application/x-www-form-urlencoded',
    );
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_request', 'the body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'invalid_request', 'the body must be a JSON object');
  }
  return value;
}

/**
 * The body's bytes. Over `maxBytes` (by its `Content-Length`, or as it arrives) it rejects with 413 at once and
 * stops reading; the dispatcher then answers with `Connection: close`, so the rest of the upload is never read.
 * A client that goes away before its body is complete gets a 400 that nobody reads: its doing, not a server error.
 * @returns {Promise<Buffer>}
 */
function readRawBody(request, maxBytes) {
  const tooLarge = () => new HttpError(413, 'payload_too_large', `the body must be at most ${maxBytes} bytes`);
  if (Number(request.headers['content-length'] ?? 0) > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolvePromise, reject) => {
    const chunks = [];
    let size = 0;
    const onData = (chunk) => {
      size += chunk.length;
      if (size <= maxBytes) return chunks.push(chunk);
      request.off('data', onData);
      request.off('end', onEnd);
      request.pause();
      reject(tooLarge());
    };
    const onEnd = () => resolvePromise(Buffer.concat(chunks));
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', () => reject(new HttpError(400, 'invalid_request', 'the request body did not arrive in full')));
  });
}

/**
 * The value of the cookie `name` in the request, or `undefined`.
 * @param {import('node:http').IncomingMessage} request
 * @param {string} name
 */
export function readCookie(request, name) {
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const separator = pair.indexOf('=');
    if (separator !== -1 && pair.slice(0, separator).trim() === name) return pair.slice(separator + 1).trim();
  }
  return undefined;
}

/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1); `undefined` when the request carries
 * no Bearer credentials (no header, or another scheme).
 * @param {import('node:http').IncomingMessage} request
 */
export function readBearerToken(request) {
  const match = /^Bearer +([^ ]+) *$/i.exec(request.headers.authorization ?? '');
  return match ? match[1] : undefined;
}

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Serves the file for `pathname` from `routes` (exact URL path → file) or from under `dir` (`/` is
 * `index.html`); false when there is none. A path that climbs out of `dir` (`/../secret`), or a symbolic link in
 * `dir` that leads out of it, finds nothing.
 * @param {import('node:http').ServerResponse} response
 * @param {string} pathname
 * @param {{ dir?: string | undefined, routes?: Record<string, string> | undefined }} where
 * @returns {Promise<boolean>}
 */
export async function serveStatic(response, pathname, { dir, routes }) {
  const file = routes?.[pathname] ?? (dir === undefined ? undefined : await fileUnder(dir, pathname));
  if (file === undefined) return false;
  let content;
  try {
    content = await readFile(file);
  } catch {
    return false;
  }
  response.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  response.end(content);
  return true;
}

/**
 * The file of URL path `pathname` under `dir` (`/` is `index.html`), where it really is (symbolic links followed);
 * `undefined` when there is no such file, or when it lies outside `dir`, by its path or by where a link leads.
 * `pathname` comes percent-encoded from the URL and stays so: `/..%2fsecret` names a file called `..%2fsecret`.
 */
async function fileUnder(dir, pathname) {
  const root = resolve(dir);
  const file = resolve(root, `.${pathname === '/' ? '/index.html' : pathname}`);
  if (!file.startsWith(root + sep)) return undefined;
  try {
    const [realRoot, realFile] = await Promise.all([realpath(root), realpath(file)]);
    return realFile.startsWith(realRoot + sep) ? realFile : undefined;
  } catch {
    return undefined;
  }
}
