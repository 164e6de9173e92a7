// Everything @okta/okta-auth-js exports (its default export is the OktaAuth class, exported by name too).
export * from '@okta/okta-auth-js';
