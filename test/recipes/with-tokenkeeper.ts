import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import axios from 'axios';
import type { TokenManager } from 'tokenkeeper';

/** What the interceptors note on a request: the token it went out with, and whether it is the retry. */
interface TokenkeeperRequestConfig extends InternalAxiosRequestConfig {
  tokenkeeperToken?: string;
  tokenkeeperRetried?: boolean;
}

/**
 * Adds the access token to requests for allowed origins; after a 401, takes a newer token (one refresh shared
 * by every caller and tab) and retries once. A request that sets its own Authorization header is left alone.
 */
export function withTokenkeeper(api: AxiosInstance, auth: TokenManager): AxiosInstance {
  api.interceptors.request.use(async (config: TokenkeeperRequestConfig) => {
    // The rule auth.fetch applies: the page's origin and allowedOrigins, compared parsed, never as prefixes.
    if (config.headers.has('Authorization') || !auth.isAllowedOrigin(api.getUri(config))) return config;
    const token = await auth.getAccessToken(); // refreshes first when the token is about to expire
    if (token) {
      config.headers.set('Authorization', `Bearer ${token}`);
      config.tokenkeeperToken = token;
    }
    return config;
  });

  api.interceptors.response.use(undefined, async (error: unknown) => {
    if (!axios.isAxiosError(error) || error.response?.status !== 401) throw error;
    const config: TokenkeeperRequestConfig | undefined = error.config;
    // Only a request that went out with our token, and only once: a second 401 goes to the caller.
    if (!config?.tokenkeeperToken || config.tokenkeeperRetried) throw error;
    // Another request or tab may have refreshed already; else refresh, joining any refresh in flight.
    const current = await auth.getAccessToken();
    const token = current !== config.tokenkeeperToken ? current : await auth.refresh().catch(() => null);
    if (!token) throw error; // signed out meanwhile, or the refresh failed: the caller gets the 401
    config.tokenkeeperRetried = true;
    config.tokenkeeperToken = token;
    config.headers.set('Authorization', `Bearer ${token}`);
    return api.request(config);
  });

  return api;
}
