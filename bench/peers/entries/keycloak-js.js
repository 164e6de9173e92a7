// keycloak-js has a default export only (the Keycloak class).
export { default } from 'keycloak-js';
