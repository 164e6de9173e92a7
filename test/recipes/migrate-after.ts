// After: tokenkeeper holds, refreshes (before expiry too), shares and ends the session; axios only carries it.
import axios from 'axios';
import { createTokenManager } from 'tokenkeeper';
import { withTokenkeeper } from './with-tokenkeeper'; // the axios recipe

export const auth = createTokenManager({
  refresh: { url: 'https://api.example.com/auth/refresh' },
  logout: { url: 'https://api.example.com/auth/logout' },
  storage: 'localStorage',
  allowedOrigins: ['https://api.example.com'],
});

export const api = withTokenkeeper(axios.create({ baseURL: 'https://api.example.com' }), auth);

// After the login request: auth.setTokens(response.data). To sign out: auth.logout().
