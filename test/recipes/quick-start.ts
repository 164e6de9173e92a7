import { auth, signIn } from './auth';

// UI state: 'loading' until the session is known, then 'authenticated' or 'unauthenticated'.
auth.subscribe((state) => {
  document.body.dataset.status = state.status;
});
// reason: 'user' (logout() here), 'remote' (another tab), 'refresh-rejected' (the server ended the session)
auth.on('logout', ({ reason }) => console.log('signed out:', reason));

await signIn('ada', 'demo'); // the reference backend (npm run demo) takes any name with the password "demo"

// Requests to the page's origin carry Authorization: Bearer <token>; a 401 refreshes once and retries once.
const response = await auth.fetch('/api/me');
console.log(await response.json()); // the reference backend answers { user, claims }

// Signs out here and in every other tab, then tells the server (with keepalive, so it survives a page unload).
await auth.logout();
