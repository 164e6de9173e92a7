// Everything oidc-client-ts exports.
export * from 'oidc-client-ts';
