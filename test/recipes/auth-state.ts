import { type Readable, readable } from 'svelte/store';
import type { AuthState } from 'tokenkeeper';
import { auth } from './auth';

/** The session as a Svelte store (`$authState.status` in a component), subscribed to the manager while read. */
export const authState: Readable<AuthState> = readable(auth.getState(), (set) => {
  set(auth.getState()); // what changed while nobody read the store
  return auth.subscribe(set);
});
