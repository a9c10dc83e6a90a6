import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { probeEndpoints } from '../../src/anchoring/json-rpc';

/**
 * An endpoint that closes a connection without answering the request on it (what a kept-alive
 * connection looks like when the endpoint's keep-alive timeout fires just as a request is sent on
 * it). A CI run saw both endpoints of a ledger "close the connection" at start-up this way.
 */
async function endpoint(closeFirst: number): Promise<{ url: string; requests: () => number; stop: () => Promise<void> }> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      if (requests <= closeFirst) {
        req.socket.destroy();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: '0x7a69' }));
    });
  });
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('a JSON-RPC endpoint that closes the connection before answering', () => {
  it('is asked once more on a new connection, and answers', async () => {
    const e = await endpoint(1);
    try {
      const probe = await probeEndpoints([e.url], 5_000);
      expect(probe.chainId).toBe(31337n);
      expect(e.requests()).toBe(2);
    } finally {
      await e.stop();
    }
  });

  it('is asked only once more: an endpoint that keeps closing is reported as closing the connection', async () => {
    const e = await endpoint(Number.MAX_SAFE_INTEGER);
    try {
      const err = await probeEndpoints([e.url], 5_000).then(() => null, (x: Error) => x);
      expect(err?.message).toMatch(/closed the connection/);
      expect(e.requests()).toBe(2);
    } finally {
      await e.stop();
    }
  });
});
