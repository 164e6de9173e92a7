import { createTokenManager } from 'tokenkeeper';

export const auth = createTokenManager({
  refresh: {
    url: 'https://auth.example.com/auth/refresh',
    credentials: 'include', // 'same-origin' when the auth server is the page's origin
    headers: { 'X-Requested-With': 'tokenkeeper' }, // CSRF: a header a cross-site form cannot send
  },
  logout: {
    url: 'https://auth.example.com/auth/logout',
    credentials: 'include',
    headers: { 'X-Requested-With': 'tokenkeeper' },
  },
  storage: 'memory', // the access token only; the refresh token stays in the cookie
  restore: true, // a reload or a lone new tab asks the server for the cookie's session
  allowedOrigins: ['https://api.example.com'],
});

/** With "cookie": true the reference backend answers { access_token, expires_in } and sets the cookie. */
export async function signIn(username: string, password: string): Promise<void> {
  const response = await fetch('https://auth.example.com/auth/login', {
    method: 'POST',
    credentials: 'include',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password, cookie: true }),
  });
  if (!response.ok) throw new Error(`sign-in failed: ${response.status}`);
  await auth.setTokens(await response.json()); // no refresh_token in the body: none is held
}
