import { describe, expect, it } from 'vitest';
import * as tokenkeeper from 'tokenkeeper';
import {
  ConfigurationError,
  HttpStatusError,
  InvalidTokenError,
  LogoutFailedError,
  NotAuthenticatedError,
  RefreshFailedError,
  RefreshRejectedError,
  StorageError,
  TimeoutError,
  TokenkeeperError,
  UnreadableResponseError,
} from 'tokenkeeper';

type ErrorClass = new (message?: string, options?: { cause?: unknown }) => TokenkeeperError;

/** The error classes of the public contract, with their literal names and stable codes. */
const contractErrors: [string, ErrorClass, string][] = [
  ['InvalidTokenError', InvalidTokenError, 'invalid_token'],
  ['RefreshRejectedError', RefreshRejectedError, 'refresh_rejected'],
  ['RefreshFailedError', RefreshFailedError, 'refresh_failed'],
  ['NotAuthenticatedError', NotAuthenticatedError, 'not_authenticated'],
  ['ConfigurationError', ConfigurationError, 'configuration'],
];

/** Further exported error classes that share the `(message?, { cause })` constructor. */
const otherErrors: [string, ErrorClass, string][] = [
  ['StorageError', StorageError, 'storage_failed'],
  ['LogoutFailedError', LogoutFailedError, 'logout_failed'],
  ['TimeoutError', TimeoutError, 'timeout'],
  ['UnreadableResponseError', UnreadableResponseError, 'unreadable_response'],
];

const allErrors = [...contractErrors, ...otherErrors];

describe.each(allErrors)('%s', (name, ErrorClass, code) => {
  it('is an instance of TokenkeeperError and Error', () => {
    const error = new ErrorClass('it failed');
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toBeInstanceOf(TokenkeeperError);
    expect(error).toBeInstanceOf(Error);
  });

  it(`has the literal name '${name}' and the stable code '${code}'`, () => {
    const error = new ErrorClass('it failed');
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(String(error)).toBe(`${name}: it failed`);
    expect(error.stack).toContain(name);
  });

  it('sets message and cause from new XError(message, { cause })', () => {
    const cause = new TypeError('network down');
    const error = new ErrorClass('the refresh failed', { cause });
    expect(error.message).toBe('the refresh failed');
    expect(error.cause).toBe(cause);
  });

  it('keeps a cause that is not an Error, including undefined', () => {
    expect(new ErrorClass('x', { cause: 503 }).cause).toBe(503);
    const withUndefined = new ErrorClass('x', { cause: undefined });
    expect('cause' in withUndefined).toBe(true);
    expect(withUndefined.cause).toBeUndefined();
  });

  it('can be built with no arguments: empty message, no cause', () => {
    const error = new ErrorClass();
    expect(error.message).toBe('');
    expect('cause' in error).toBe(false);
    expect(error.code).toBe(code);
  });

  it('is not an instance of the other error classes', () => {
    const error = new ErrorClass('x');
    for (const [otherName, Other] of allErrors) {
      if (otherName !== name) expect(error).not.toBeInstanceOf(Other);
    }
  });
});

describe('TokenkeeperError', () => {
  it('is an Error with name TokenkeeperError, and sets message and cause', () => {
    const cause = new Error('root');
    const error = new TokenkeeperError('base failure', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('TokenkeeperError');
    expect(typeof error.code).toBe('string');
    expect(error.message).toBe('base failure');
    expect(error.cause).toBe(cause);
  });
});

describe('HttpStatusError', () => {
  it('is a TokenkeeperError with code http_status that carries the status, a message and a cause', () => {
    const cause = new Error('root');
    const error = new HttpStatusError('the refresh endpoint answered 503', { cause, status: 503 });
    expect(error).toBeInstanceOf(TokenkeeperError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('HttpStatusError');
    expect(error.code).toBe('http_status');
    expect(error.status).toBe(503);
    expect(error.message).toBe('the refresh endpoint answered 503');
    expect(error.cause).toBe(cause);
  });

  it('takes the common (message?, options?) constructor; status is undefined when not given', () => {
    const error = new HttpStatusError('failed');
    expect(error.message).toBe('failed');
    expect(error.status).toBeUndefined();
  });
});

describe('the package exports', () => {
  // The classes: `isTokenkeeperError` is a function, tested below.
  const exported = Object.entries(tokenkeeper).filter(([key]) => /^[A-Z]\w*Error$/.test(key));

  it('includes every error class of the contract', () => {
    const names = exported.map(([key]) => key);
    for (const [name] of contractErrors) expect(names).toContain(name);
    expect(names).toContain('TokenkeeperError');
  });

  it.each(exported)('%s extends TokenkeeperError, with its export name as name and a non-empty code', (key, value) => {
    const ErrorClass = value as unknown as new () => TokenkeeperError;
    const error = new ErrorClass();
    expect(error).toBeInstanceOf(TokenkeeperError);
    expect(error.name).toBe(key);
    expect(error.code).toMatch(/^[a-z_]+$/);
  });
});
