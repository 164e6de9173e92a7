// Everything @auth0/auth0-spa-js exports.
export * from '@auth0/auth0-spa-js';
