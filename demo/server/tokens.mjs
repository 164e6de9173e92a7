// Access tokens: short-lived HS256 JWTs, signed and verified with `jose` (never by hand: a hand-rolled verifier
// is where `alg: none`, key confusion and forgotten `exp` checks come from). One secret signs and verifies, so
// every server process that must accept a token needs the same secret: main.mjs reads it from JWT_SECRET.
//
// Claims: `sub` the user, `jti` a random id (what a logout puts on the deny-list), `ver` the user's token version
// when the token was issued (what "log out everywhere" outdates), `iat`/`exp`, and `iss`/`aud`, which the
// verifier checks so that a token this server signed for another purpose (or another server sharing the secret)
// is not taken for an access token to this API.
import { randomBytes, randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';

/**
 * Why a token was refused, as `GET /api/me` reports it. `denied` and `outdated` are decided by the store, after
 * the token itself verified.
 * @typedef {'missing' | 'malformed' | 'expired' | 'denied' | 'outdated'} RejectReason
 */

/**
 * @typedef {object} AccessClaims
 * @property {string} sub
 * @property {string} jti
 * @property {number} ver
 * @property {number} iat
 * @property {number} exp
 * @property {string} iss
 * @property {string} aud
 */

/** HS256 wants a key at least as long as its hash (RFC 7518 §3.2). */
const MIN_SECRET_BYTES = 32;

/** A secret for one process's life: tokens it signs die with it, which is what a demo wants. */
export function createRandomSecret() {
  return randomBytes(MIN_SECRET_BYTES);
}

/**
 * Signs and verifies this server's access tokens.
 * @param {object} options
 * @param {string | Uint8Array} options.secret at least 32 bytes
 * @param {number} options.accessTokenSeconds lifetime of a token
 * @param {string} options.issuer the `iss` claim, checked on verify
 * @param {string} options.audience the `aud` claim, checked on verify
 * @param {() => number} options.now the clock, in ms since the epoch
 * @example
 * const tokens = createAccessTokens({ secret, accessTokenSeconds: 20, issuer: 'demo', audience: 'demo-api', now: Date.now });
 * const { token } = await tokens.issue({ user: 'ada', version: 0 });
 * const result = await tokens.verify(token); // { ok: true, claims } or { ok: false, reason: 'expired' }
 */
export function createAccessTokens({ secret, accessTokenSeconds, issuer, audience, now }) {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  if (key.byteLength < MIN_SECRET_BYTES) {
    throw new Error(`secret must be at least ${MIN_SECRET_BYTES} bytes for HS256, got ${key.byteLength}`);
  }

  return {
    /**
     * A new access token for `user` under token version `version`.
     * @param {{ user: string, version: number }} input
     * @returns {Promise<{ token: string, jti: string, expiresAtMs: number }>}
     */
    async issue({ user, version }) {
      const issuedAt = Math.floor(now() / 1000);
      const expiresAt = issuedAt + accessTokenSeconds;
      const jti = randomUUID();
      const token = await new SignJWT({ ver: version })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(user)
        .setJti(jti)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(key);
      return { token, jti, expiresAtMs: expiresAt * 1000 };
    },

    /**
     * Checks the signature, `alg`, `iss`, `aud` and `exp` of `token`; the store's checks (deny-list, version)
     * come after, in the caller.
     * @param {string} token
     * @returns {Promise<{ ok: true, claims: AccessClaims } | { ok: false, reason: 'malformed' | 'expired' }>}
     */
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          // Only the algorithm this server signs with: a token cannot choose how it is checked.
          algorithms: ['HS256'],
          issuer,
          audience,
          requiredClaims: ['sub', 'jti', 'exp', 'iat', 'ver'],
          currentDate: new Date(now()),
        });
        // jose checks that the claims are there, not what they are: a `jti` that is no string could never be found
        // on the deny-list, a `sub` that is no string has no token version. Only a holder of the secret can sign
        // such a token, and this server never does; refuse its shape all the same.
        const { sub, jti, ver } = payload;
        if (typeof sub !== 'string' || typeof jti !== 'string' || !Number.isInteger(ver)) {
          return { ok: false, reason: 'malformed' };
        }
        return { ok: true, claims: /** @type {AccessClaims} */ (payload) };
      } catch (error) {
        // Expired means "was ours and valid once" (the signature checked out): the client should refresh. Anything
        // else (not a JWT, a bad signature, another issuer or audience) is one answer, `malformed`: telling an
        // attacker which check failed helps nobody else.
        if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
        return { ok: false, reason: 'malformed' };
      }
    },
  };
}
