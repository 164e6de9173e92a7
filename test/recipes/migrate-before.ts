// Before: axios-auth-refresh. Tokens by hand in localStorage, a header for every origin ("Bearer null" when
// signed out), a refresh only after a 401, nothing shared between tabs, and no logout.
import axios from 'axios';
import createAuthRefreshInterceptor from 'axios-auth-refresh';

export const api = axios.create({ baseURL: 'https://api.example.com' });

api.interceptors.request.use((config) => {
  config.headers.set('Authorization', `Bearer ${localStorage.getItem('access_token')}`);
  return config;
});

createAuthRefreshInterceptor(
  api,
  async (failedRequest) => {
    const { data } = await axios.post('https://api.example.com/auth/refresh', {
      refresh_token: localStorage.getItem('refresh_token'),
    });
    localStorage.setItem('access_token', data.access_token);
    localStorage.setItem('refresh_token', data.refresh_token);
    failedRequest.response.config.headers.Authorization = `Bearer ${data.access_token}`;
  },
  { statusCodes: [401], pauseInstanceWhileRefreshing: true },
);
