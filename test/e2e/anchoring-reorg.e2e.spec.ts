import { AnchorerService } from '../../src/anchoring/anchorer.service';
import { RpcProxy } from '../support/rpc-proxy';
import { type TestLedger } from '../support/test-ledger';
import { anchoredLogs, batchRow, newRecorder, sealOneBatch, startAnchorNode, type Recorder, startLedgerBehindProxy } from '../support/anchoring-fixtures';

/**
 * Issue 10, reorganisations on a real Hardhat node: evm_snapshot before the anchoring block,
 * evm_revert after it, and a different chain mined in its place. The anchorer must notice, anchor
 * the batch again (same seq: the contract's state was reverted too) and call it FINAL only once
 * the NEW chain is CONFIRMATIONS deep; a transaction re-included in another block only moves the
 * batch's location, no new transaction is sent. Ticks are driven with settle(), one at a time.
 */
describe('anchoring across a chain reorganisation (issue 10)', () => {
  const CONFIRMATIONS = 3;
  let chain: Awaited<ReturnType<typeof startAnchorNode>>;
  let proxy: RpcProxy;
  let t: TestLedger;
  let r: Recorder;
  let anchorer: AnchorerService;

  beforeAll(async () => {
    ({ chain, proxy, t } = await startLedgerBehindProxy({
      CONFIRMATIONS: String(CONFIRMATIONS),
      ANCHORER_INTERVAL_MS: '600000',
    }));
    anchorer = t.ledger.app.get(AnchorerService);
    r = await newRecorder(t);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await proxy?.close();
    await chain?.close();
  });

  const sends = () => proxy.callsOf('eth_sendRawTransaction');
  const mine = (n: number) => chain.provider.send('hardhat_mine', ['0x' + n.toString(16)]);

  it('re-anchors a batch whose block was reorganised away, and is FINAL only when the new chain is CONFIRMATIONS deep', async () => {
    const snapshot = (await chain.provider.send('evm_snapshot', [])) as string;
    const seq = await sealOneBatch(r);
    await anchorer.settle();
    const before = await batchRow(t, seq);
    expect(before.status).toBe('ANCHORED');
    expect(sends()).toHaveLength(1);

    // the anchoring block disappears; a longer chain without the transaction replaces it
    await chain.provider.send('evm_revert', [snapshot]);
    await mine(CONFIRMATIONS);
    expect(await chain.provider.getTransactionReceipt(before.tx_hash!)).toBeNull();
    expect(await chain.anchor.getFunction('nextSeq')()).toBe(0n);

    await anchorer.settle(); // notices the reorganisation
    await anchorer.settle(); // and anchors again
    const again = await batchRow(t, seq);
    expect(again.status).toBe('ANCHORED');
    expect(again.block_hash).not.toBe(before.block_hash);
    expect(sends()).toHaveLength(2); // a new transaction
    const onChain = await anchoredLogs(chain.anchor, BigInt(seq));
    expect(onChain).toHaveLength(1);
    expect(onChain[0].transactionHash).toBe(again.tx_hash);
    expect(onChain[0].blockHash).toBe(again.block_hash);

    // not FINAL until the new anchoring block is CONFIRMATIONS deep
    for (let depth = 1; depth < CONFIRMATIONS; depth++) {
      await anchorer.settle();
      expect((await batchRow(t, seq)).status).toBe('ANCHORED');
      await mine(1);
    }
    await anchorer.settle();
    expect((await batchRow(t, seq)).status).toBe('FINAL');
    expect(await chain.anchor.getFunction('nextSeq')()).toBe(1n);
  }, 120_000);

  it('follows its transaction into another block when it is re-included after a reorganisation, without sending a new one', async () => {
    const snapshot = (await chain.provider.send('evm_snapshot', [])) as string;
    const seq = await sealOneBatch(r);
    await anchorer.settle();
    const before = await batchRow(t, seq);
    expect(before.status).toBe('ANCHORED');
    const sentBefore = sends().length;
    const raw = sends()[sentBefore - 1].params[0] as string;

    // reorganised away, then the same signed transaction lands in a different block of the new chain
    await chain.provider.send('evm_revert', [snapshot]);
    await mine(1);
    const rebroadcast = (await chain.provider.send('eth_sendRawTransaction', [raw])) as string;
    expect(rebroadcast).toBe(before.tx_hash);
    const receipt = (await chain.provider.getTransactionReceipt(rebroadcast))!;
    expect(receipt.blockHash).not.toBe(before.block_hash);
    expect(receipt.blockNumber).toBe(Number(before.block_number) + 1);

    await mine(CONFIRMATIONS - 1);
    await anchorer.settle();
    await anchorer.settle();
    const after = await batchRow(t, seq);
    expect(after).toMatchObject({ status: 'FINAL', tx_hash: before.tx_hash, block_hash: receipt.blockHash, block_number: String(receipt.blockNumber) });
    expect(sends()).toHaveLength(sentBefore); // nothing new sent
    expect(await anchoredLogs(chain.anchor, BigInt(seq))).toHaveLength(1);
  }, 120_000);
});
