/** Builds an unsigned JWT-shaped token; the client never verifies signatures, the server does. */
export function makeJwt(
  payload: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' },
): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode(header)}.${encode(payload)}.c2lnbmF0dXJl`;
}

let issued = 0;

/** A JWT issued now (by `nowMs`) that lives `lifetimeSeconds`; each one is unique (`jti`), as a server's are. */
export function jwtFor(lifetimeSeconds: number, extra: Record<string, unknown> = {}, nowMs = Date.now()): string {
  const iat = Math.floor(nowMs / 1000);
  issued += 1;
  return makeJwt({ sub: 'user-1', iat, exp: iat + lifetimeSeconds, jti: `t${issued}`, ...extra });
}
