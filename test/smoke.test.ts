import { describe, expect, it } from 'vitest';
import { createTokenManager } from 'tokenkeeper';
import { jwtFor } from './support/jwt';
import {
  API_ORIGIN,
  HttpResponse,
  http,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from './support/environment';

startServer();

describe('smoke', () => {
  it('refreshes and retries a 401 with the new token', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600), refresh_token: 'r2' }));
    const seenAuth: (string | null)[] = [];
    server.use(
      refresh.handler,
      http.post(`${API_ORIGIN}/data`, async ({ request }) => {
        seenAuth.push(request.headers.get('authorization'));
        const body = await request.text();
        return seenAuth.length === 1 ? new HttpResponse(null, { status: 401 }) : HttpResponse.json({ body });
      }),
    );
    const auth = createTokenManager({
      refresh: { url: REFRESH_URL },
      allowedOrigins: [API_ORIGIN],
      onResume: () => () => {},
    });
    const first = jwtFor(3600);
    await auth.setTokens({ accessToken: first, refreshToken: 'r1' });
    const response = await auth.fetch(`${API_ORIGIN}/data`, { method: 'POST', body: JSON.stringify({ a: 1 }) });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ body: '{"a":1}' });
    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'r1' });
    expect(seenAuth[0]).toBe(`Bearer ${first}`);
    expect(seenAuth[1]).toBe(`Bearer ${auth.getState().accessToken}`);
    expect(seenAuth[1]).not.toBe(seenAuth[0]);
    auth.destroy();
  });
});
