import { Transaction } from 'ethers';
import { RpcProxy } from '../support/rpc-proxy';
import { eventually, type TestLedger } from '../support/test-ledger';
import { anchoredLogs, batchRow, newRecorder, sealOneBatch, startAnchorNode, startLedgerBehindProxy } from '../support/anchoring-fixtures';

const GWEI = 1_000_000_000n;

/**
 * Issue 10, a stuck transaction: the anchor transaction is priced below what the chain now asks
 * (the base fee jumps after it was sent) and stays pending. After ANCHOR_REPLACE_AFTER_BLOCKS
 * blocks the anchorer must replace it with the SAME nonce and fees at least 12.5% higher, keep
 * both hashes, and end with exactly one anchor on chain. Real Hardhat node, automine off, every
 * transaction seen on the wire through the proxy.
 */
describe('a stuck anchor transaction is replaced with higher fees (issue 10)', () => {
  const REPLACE_AFTER = 3;
  let chain: Awaited<ReturnType<typeof startAnchorNode>>;
  let proxy: RpcProxy;
  let t: TestLedger;

  beforeAll(async () => {
    ({ chain, proxy, t } = await startLedgerBehindProxy({
      CONFIRMATIONS: '3',
      ANCHORER_INTERVAL_MS: '100',
      ANCHOR_REPLACE_AFTER_BLOCKS: String(REPLACE_AFTER),
    }));
  }, 120_000);

  afterAll(async () => {
    await chain?.provider.send('evm_setAutomine', [true]).catch(() => undefined);
    await t?.stop();
    await proxy?.close();
    await chain?.close();
  });

  const sent = (): Transaction[] => proxy.callsOf('eth_sendRawTransaction').map((c) => Transaction.from(c.params[0] as string));

  it('replaces the pending transaction with the same nonce and ≥ 12.5% higher fees; the batch ends FINAL with one anchor', async () => {
    const r = await newRecorder(t);
    await chain.provider.send('evm_setAutomine', [false]);
    expect(await sealOneBatch(r)).toBe('0');
    const [first] = await eventually(async () => (sent().length >= 1 ? sent() : undefined), 20_000, 'the first anchor transaction');

    // the base fee jumps far above what the first transaction offers: it cannot be mined
    await chain.provider.send('hardhat_setNextBlockBaseFeePerGas', ['0x' + (first.maxFeePerGas! * 50n).toString(16)]);
    await chain.provider.send('hardhat_mine', ['0x' + REPLACE_AFTER.toString(16)]);
    expect(await chain.provider.getTransactionReceipt(first.hash!)).toBeNull();

    const replacement = await eventually(async () => sent().find((tx) => tx.hash !== first.hash), 20_000, 'a replacement transaction');
    console.log(`first: nonce ${first.nonce} maxFee ${first.maxFeePerGas} tip ${first.maxPriorityFeePerGas}; replacement: nonce ${replacement.nonce} maxFee ${replacement.maxFeePerGas} tip ${replacement.maxPriorityFeePerGas}`);
    expect(replacement.nonce).toBe(first.nonce);
    expect(replacement.to).toBe(first.to);
    expect(replacement.data).toBe(first.data);
    expect(replacement.maxFeePerGas! * 8n).toBeGreaterThanOrEqual(first.maxFeePerGas! * 9n);
    expect(replacement.maxPriorityFeePerGas! * 8n).toBeGreaterThanOrEqual(first.maxPriorityFeePerGas! * 9n);
    expect(replacement.maxFeePerGas!).toBeLessThanOrEqual(500n * GWEI); // ANCHOR_MAX_FEE_GWEI's default ceiling

    // the replacement is mined (once the node holds it: the proxy logs a request before the node answers it); the original never is
    await eventually(async () => ((await chain.provider.getTransaction(replacement.hash!)) ? true : undefined), 20_000, 'the node to hold the replacement');
    await chain.provider.send('hardhat_mine', ['0x1']);
    const anchored = await eventually(async () => {
      const row = await batchRow(t, '0');
      return row.status === 'ANCHORED' ? row : undefined;
    }, 20_000, 'batch 0 ANCHORED');
    const mined = (await chain.provider.getTransactionReceipt(anchored.tx_hash!))!;
    expect(mined.status).toBe(1);
    expect([first.hash, replacement.hash]).toContain(anchored.tx_hash);
    await chain.provider.send('hardhat_mine', ['0x2']);
    await eventually(async () => ((await batchRow(t, '0')).status === 'FINAL' ? true : undefined), 20_000, 'batch 0 FINAL');
    expect(await chain.anchor.getFunction('nextSeq')()).toBe(1n);
    expect(await anchoredLogs(chain.anchor, 0n)).toHaveLength(1);
    const received = await Promise.all(sent().map((tx) => chain.provider.getTransactionReceipt(tx.hash!)));
    expect(received.filter((x) => x !== null)).toHaveLength(1);
  }, 120_000);
});
