import { AnchorerService } from '../../src/anchoring/anchorer.service';
import { ChainClient } from '../../src/anchoring/chain-client';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { LeaderLease, leaseFence } from '../../src/anchoring/leader-lock';
import { SealerService } from '../../src/batching/sealer.service';
import { sqlRows } from '../../src/database/data-source';
import { RpcProxy } from '../support/rpc-proxy';
import { eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { anchoredLogs, batchRow, newRecorder, sealOneBatch, type Recorder } from '../support/anchoring-fixtures';
import { Contract } from 'ethers';
import { CUSTODY_ANCHOR_ABI } from '../../src/anchoring/custody-anchor';

/**
 * Issue 10, leadership: a leader paused with SIGSTOP kept its session advisory lock (the TCP
 * session stays alive), so anchoring stopped for every replica. Leadership is now a lease row
 * (leader_leases) with a fencing token: once the lease has expired another replica takes it
 * with a higher token, and every write of the old leader carrying its stale token changes
 * nothing and stops its tick before it sends anything. Two leases / two anchorers on one
 * database, on PostgreSQL and PGlite alike.
 */
describe('the anchorer leads by a fenced lease (issue 10)', () => {
  const LEASE_MS = 1000;
  let t: TestLedger;
  let r: Recorder;
  let anchor: Contract;

  const leaseExpired = () =>
    eventually(async () => {
      const [row] = await sqlRows<{ expired: boolean }>(t.ledger.runtime.dataSource, `SELECT expires_at <= clock_timestamp() AS expired FROM leader_leases WHERE name = 'anchorer'`);
      return row?.expired ? true : undefined;
    }, 10_000, 'the lease to expire');
  const leaseRow = async () =>
    (await sqlRows<{ holder: string; token: string }>(t.ledger.runtime.dataSource, `SELECT holder, token FROM leader_leases WHERE name = 'anchorer'`))[0];

  beforeAll(async () => {
    t = await startTestLedger({ LEADER_LEASE_MS: String(LEASE_MS), ANCHORER_INTERVAL_MS: '600000' });
    r = await newRecorder(t);
    anchor = new Contract(t.ledger.runtime.chain.contractAddress, CUSTODY_ANCHOR_ABI, t.ledger.runtime.chain.provider);
    const service = t.ledger.app.get(AnchorerService);
    await sealOneBatch(r);
    await service.settle();
    expect((await batchRow(t, '0')).status).toBe('FINAL');
    // the service's own anchorer steps down (and releases its lease): the replicas below are the test's
    await service.onApplicationShutdown();
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('a second replica takes an expired lease with a higher token; the first one\'s stale write is refused and changes nothing', async () => {
    const dataSource = t.ledger.runtime.dataSource;
    const a = new LeaderLease(dataSource, 'anchorer', LEASE_MS, 'replica-a');
    const b = new LeaderLease(dataSource, 'anchorer', LEASE_MS, 'replica-b');
    const first = await a.acquire();
    expect(first).not.toBeNull();
    expect(await b.acquire()).toBeNull(); // a live lease of another holder
    expect(await a.acquire()).toBe(first); // renewing keeps the token
    await leaseExpired(); // "a is paused": it renews no more
    const second = await b.acquire();
    expect(second).not.toBeNull();
    expect(second! > first!).toBe(true);
    expect(await a.acquire()).toBeNull();
    expect(await leaseRow()).toEqual({ holder: 'replica-b', token: second!.toString() });

    // a, waking up, writes with the token it had: refused, nothing changes
    const before = await t.fingerprint();
    const stale = await sqlRows(dataSource, `UPDATE anchor_batches SET status = 'SEALED', tx_hash = NULL WHERE seq = $2 AND ${leaseFence('anchorer', '$1')} RETURNING seq`, [first!.toString(), '0']);
    expect(stale).toEqual([]);
    expect(await t.fingerprint()).toEqual(before);
    // b's own write with the live token goes through (the fence is not simply always false)
    const live = await sqlRows<{ seq: string }>(dataSource, `UPDATE anchor_batches SET last_error = NULL WHERE seq = $2 AND ${leaseFence('anchorer', '$1')} RETURNING seq`, [second!.toString(), '0']);
    expect(live).toEqual([{ seq: '0' }]);
    await b.release();
  });

  it('an anchorer that lost its lease while waiting on the chain sends nothing and writes nothing; the new leader anchors the batch once', async () => {
    const runtime = t.ledger.runtime;
    const sealer = t.ledger.app.get(SealerService);
    // batch 1 is sealed while a third replica holds the lease, so nobody acts on it yet
    const holder = new LeaderLease(runtime.dataSource, 'anchorer', 60_000, 'replica-z');
    expect(await holder.acquire()).not.toBeNull();
    const seq = await sealOneBatch(r);
    expect(seq).toBe('1');
    await holder.release();

    // replica Y reaches the chain through a proxy that stops answering: Y takes the lease, then hangs
    const proxy = await RpcProxy.start(runtime.chain.rpcUrl);
    const chainY = await ChainClient.connect(proxy.url, HARDHAT_DEV_PRIVATE_KEY, 60_000);
    chainY.attach(runtime.chain.contractAddress);
    const y = new AnchorerService({ ...runtime, chain: chainY }, sealer);
    const x = new AnchorerService(runtime, sealer);
    try {
      proxy.mode = 'blackhole';
      const ySettled = y.settle();
      await eventually(async () => (proxy.heldCount > 0 ? true : undefined), 10_000, 'Y waiting on the chain');
      const yToken = BigInt((await leaseRow()).token);
      expect((await leaseRow()).holder).not.toBe('replica-z');

      // Y is "paused" past its lease; another replica becomes leader (and has not acted yet)
      await leaseExpired();
      const next = new LeaderLease(runtime.dataSource, 'anchorer', 60_000, 'replica-next');
      const nextToken = await next.acquire();
      expect(nextToken! > yToken).toBe(true);

      const before = await t.fingerprint();
      proxy.mode = 'pass'; // Y wakes up: its held request is answered, it carries on with its stale view
      await ySettled;
      expect(proxy.callsOf('eth_sendRawTransaction')).toEqual([]);
      expect(proxy.callsOf('eth_sendTransaction')).toEqual([]);
      expect(await t.fingerprint()).toEqual(before);
      expect(await anchor.getFunction('nextSeq')()).toBe(1n);

      // the new leader (a real anchorer once the lease is free) anchors batch 1, exactly once
      await next.release();
      await x.settle();
      expect((await batchRow(t, '1')).status).toBe('FINAL');
      expect(await anchor.getFunction('nextSeq')()).toBe(2n);
      expect(await anchoredLogs(anchor, 1n)).toHaveLength(1);
      expect(BigInt((await leaseRow()).token) > nextToken!).toBe(true);
    } finally {
      await y.onApplicationShutdown();
      await x.onApplicationShutdown();
      chainY.close();
      await proxy.close();
    }
  }, 60_000);
});
