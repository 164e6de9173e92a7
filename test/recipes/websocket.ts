import type { TokenManager } from 'tokenkeeper';

/**
 * A WebSocket that sends the access token as its first message, never in the URL; opens again with the new
 * token after every refresh (here or in another tab) and after a login; closes on logout. Returns `stop`.
 */
export function connectLive(auth: TokenManager, url: string, onMessage: (data: unknown) => void): () => void {
  let socket: WebSocket | null = null;
  let generation = 0; // a newer open() or close() makes an older open() that is still waiting give up

  const close = () => {
    generation += 1;
    socket?.close(1000, 'closed by the client');
    socket = null;
  };

  const open = async () => {
    close();
    const mine = generation;
    // The origin rule of auth.fetch, asked about the socket's http(s) twin (ws: → http:, wss: → https:).
    if (!auth.isAllowedOrigin(url.replace(/^ws/, 'http'))) return;
    const token = await auth.getAccessToken();
    if (!token || mine !== generation) return; // signed out, or superseded while waiting
    const next = new WebSocket(url);
    next.onopen = () => next.send(JSON.stringify({ type: 'auth', token }));
    next.onmessage = (event) => onMessage(event.data);
    socket = next;
  };

  const unsubscribe = [
    auth.on('login', () => void open()),
    auth.on('refresh', () => void open()),
    auth.on('logout', close),
  ];
  void open();
  return () => {
    for (const stop of unsubscribe) stop();
    close();
  };
}
