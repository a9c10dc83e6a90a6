import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChainClient } from '../../src/anchoring/chain-client';
import { loadConfig } from '../../src/config/config';
import { startLedger } from '../../src/bootstrap';

/**
 * Issue 10: a JSON-RPC node that accepts connections and never answers (a hung node, a
 * black-holing proxy). Without timeouts, `ChainClient.connect` waited forever and every call
 * waited ethers' default of 300 s. A real HTTP server here: it answers `eth_chainId` when told
 * to and holds every other request open without a word.
 */
describe('a hanging JSON-RPC node (issue 10)', () => {
  let server: http.Server;
  let url: string;
  let answerChainId = false;
  /** when the node was last asked anything (start-up opens the database first, which takes its own time) */
  let askedAt = 0;
  const held: http.ServerResponse[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const call = JSON.parse(body || '{}') as { id?: number; method?: string };
        askedAt = Date.now();
        if (answerChainId && call.method === 'eth_chainId') {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ jsonrpc: '2.0', id: call.id, result: '0x7a69' }));
        } else held.push(res); // never answered
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('connecting gives up after the RPC timeout with a clear error', async () => {
    answerChainId = false;
    const started = Date.now();
    await expect(ChainClient.connect(url, '0x' + '11'.repeat(32), 1_000)).rejects.toThrow(/did not answer eth_chainId within 1000 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('every later call has the same timeout', async () => {
    answerChainId = true;
    const client = await ChainClient.connect(url, '0x' + '11'.repeat(32), 1_000);
    const started = Date.now();
    await expect(client.provider.getBlockNumber()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
    client.provider.destroy();
  });

  it('the service refuses to start within seconds, naming CHAIN_RPC_URL and the timeout', async () => {
    answerChainId = false;
    const config = loadConfig({
      PORT: '0',
      PGLITE_IN_MEMORY: '1',
      LOG_LEVEL: 'error',
      CHAIN_RPC_URL: url,
      ANCHOR_PRIVATE_KEY: '0x' + '11'.repeat(32),
      ANCHOR_CONTRACT_ADDRESS: '0x' + '22'.repeat(20),
      RPC_TIMEOUT_MS: '1000',
    });
    askedAt = 0;
    await expect(startLedger(config)).rejects.toThrow(/cannot reach CHAIN_RPC_URL: .*did not answer eth_chainId within 1000 ms/);
    // from the node's first silence to the refusal: the RPC timeout, not ethers' 300 s
    expect(askedAt).toBeGreaterThan(0);
    expect(Date.now() - askedAt).toBeLessThan(5_000);
  });
});
