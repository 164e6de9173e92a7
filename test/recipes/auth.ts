// auth.ts: the app's one manager. Safe to import during server rendering too: creating it needs no page.
import { createTokenManager } from 'tokenkeeper';

export const auth = createTokenManager({
  refresh: { url: '/auth/refresh' },
  logout: { url: '/auth/logout' },
  storage: 'localStorage', // survives a reload; 'memory' with the refresh token in an HttpOnly cookie is safer (see Security)
});

/** Signs in: the login endpoint's JSON ({ access_token, refresh_token, expires_in }) goes in as it is. */
export async function signIn(username: string, password: string): Promise<void> {
  const response = await fetch('/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) throw new Error(`sign-in failed: ${response.status}`);
  await auth.setTokens(await response.json());
}
