import fs from 'node:fs';
import path from 'node:path';
import {
  AbiCoder,
  Contract,
  Interface,
  JsonRpcProvider,
  Wallet,
  ZeroAddress,
  ZeroHash,
  getBytes,
  id,
  isError,
  keccak256,
  parseEther,
  toBeHex,
  type ContractTransactionResponse,
  zeroPadValue,
  type Log,
} from 'ethers';
import { MerkleTree } from 'merkletreejs';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { startEmbeddedChain, type EmbeddedChain } from '../../src/anchoring/embedded-chain';
import { CUSTODY_ANCHOR_ABI, CUSTODY_ANCHOR_ARTIFACT, deployCustodyAnchor } from '../../src/anchoring/custody-anchor';

const ROOT = path.resolve(__dirname, '../..');
// Hardhat reads its config path once, when first loaded (here or by startEmbeddedChain).
process.env.HARDHAT_CONFIG = path.join(ROOT, 'hardhat.config.ts');

/** Hardhat development account #1: funded on every Hardhat network, public, never for real money. */
const ANCHORER_PRIVATE_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const LEAF_TYPES = ['bytes32', 'bytes32', 'bytes32'];
const DEFAULT_ADMIN_ROLE = ZeroHash;
const anchorInterface = new Interface(CUSTODY_ANCHOR_ABI);

type LeafValues = [digest: string, sigHash: string, prevLeaf: string];

/** The standard leaf, computed independently of the contract: keccak256(keccak256(abi.encode(values))). */
function standardLeaf(values: LeafValues): string {
  return keccak256(keccak256(AbiCoder.defaultAbiCoder().encode(LEAF_TYPES, values)));
}

/** `count` events of one shipment, chained through previousLeaf as the service chains them. */
function chainedLeafValues(count: number, label: string): LeafValues[] {
  const values: LeafValues[] = [];
  let previousLeaf = ZeroHash;
  for (let i = 0; i < count; i++) {
    const entry: LeafValues = [id(`${label} digest ${i}`), id(`${label} signatures ${i}`), previousLeaf];
    values.push(entry);
    previousLeaf = standardLeaf(entry);
  }
  return values;
}

function merkletreejsTree(leaves: string[]): MerkleTree {
  return new MerkleTree(
    leaves.map((leaf) => Buffer.from(getBytes(leaf))),
    keccak256,
    { sortPairs: true },
  );
}

interface DecodedRevert {
  name: string;
  args: unknown[];
}

/** Awaits `action`, which must revert with a custom error of CustodyAnchor (or its parents), and decodes it. */
async function revertOf(action: Promise<unknown>): Promise<DecodedRevert> {
  try {
    await action;
  } catch (error) {
    if (isError(error, 'CALL_EXCEPTION') && error.data) {
      const parsed = anchorInterface.parseError(error.data);
      if (parsed) return { name: parsed.name, args: [...parsed.args] };
    }
    throw error;
  }
  throw new Error('expected a revert, but the call succeeded');
}

/** The args of the one BatchAnchored log of `receipt`: [seq, root, leafCount, timestamp]. */
function anchoredLog(receipt: { logs: readonly Log[] }): unknown[] {
  const logs = receipt.logs.map((log) => anchorInterface.parseLog(log)).filter((log) => log?.name === 'BatchAnchored');
  expect(logs).toHaveLength(1);
  return [...logs[0]!.args];
}

async function mined(tx: Promise<ContractTransactionResponse>) {
  const receipt = await (await tx).wait();
  if (receipt === null) throw new Error('transaction has no receipt');
  return receipt;
}

describe('CustodyAnchor', () => {
  let chain: EmbeddedChain;
  let provider: JsonRpcProvider;
  let admin: Wallet;
  let anchorer: Wallet;
  let outsider: Wallet;
  let anchorerRole: string;

  /** A fresh contract (admin = account #0, anchorer = account #1), connected as the anchorer. */
  async function deployFresh(): Promise<Contract> {
    const { address } = await deployCustodyAnchor(admin, { admin: admin.address, anchorer: anchorer.address });
    return new Contract(address, CUSTODY_ANCHOR_ABI, anchorer);
  }

  function as(account: Wallet, anchor: Contract): Contract {
    return new Contract(anchor.target, CUSTODY_ANCHOR_ABI, account);
  }

  beforeAll(async () => {
    chain = await startEmbeddedChain({ port: 0 });
    provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    admin = new Wallet(chain.deployerPrivateKey, provider);
    anchorer = new Wallet(ANCHORER_PRIVATE_KEY, provider);
    outsider = new Wallet(id('custody-anchor.spec outsider'), provider);
    await (await admin.sendTransaction({ to: outsider.address, value: parseEther('1') })).wait();
    anchorerRole = (await (await deployFresh()).getFunction('ANCHORER_ROLE')()) as string;
  });

  afterAll(async () => {
    provider?.destroy();
    await chain?.close();
  });

  describe('deployment', () => {
    it('deploys the committed artifact: the code at the address is its deployedBytecode', async () => {
      const deployment = await deployCustodyAnchor(admin, { admin: admin.address, anchorer: anchorer.address });
      const receipt = await provider.getTransactionReceipt(deployment.txHash);
      expect(receipt?.contractAddress).toBe(deployment.address);
      expect(receipt?.blockNumber).toBe(deployment.blockNumber);
      expect(receipt?.status).toBe(1);
      // the initial anchorer is an immutable: the deployed code holds its address where the artifact has zero words
      const anchorerWord = zeroPadValue(anchorer.address, 32).slice(2).toLowerCase();
      const code = await provider.getCode(deployment.address);
      expect(code.split(anchorerWord)).toHaveLength(3);
      expect(code.replaceAll(anchorerWord, '0'.repeat(64))).toBe(CUSTODY_ANCHOR_ARTIFACT.deployedBytecode);
    });

    it('grants DEFAULT_ADMIN_ROLE to the admin and ANCHORER_ROLE to the anchorer, and nothing else', async () => {
      const anchor = await deployFresh();
      expect(anchorerRole).toBe(id('ANCHORER_ROLE'));
      expect(await anchor.hasRole(DEFAULT_ADMIN_ROLE, admin.address)).toBe(true);
      expect(await anchor.hasRole(anchorerRole, anchorer.address)).toBe(true);
      expect(await anchor.hasRole(anchorerRole, admin.address)).toBe(false);
      expect(await anchor.hasRole(DEFAULT_ADMIN_ROLE, anchorer.address)).toBe(false);
      expect(await anchor.getRoleAdmin(anchorerRole)).toBe(DEFAULT_ADMIN_ROLE);
      expect(await anchor.nextSeq()).toBe(0n);
    });

    it('rejects the zero address as admin', async () => {
      const data = CUSTODY_ANCHOR_ARTIFACT.bytecode + anchorInterface.encodeDeploy([ZeroAddress, anchorer.address]).slice(2);
      expect(await revertOf(admin.estimateGas({ data }))).toEqual({ name: 'CustodyAnchorZeroAdmin', args: [] });
    });

    it('rejects the zero address as anchorer', async () => {
      const data = CUSTODY_ANCHOR_ARTIFACT.bytecode + anchorInterface.encodeDeploy([admin.address, ZeroAddress]).slice(2);
      expect(await revertOf(admin.estimateGas({ data }))).toEqual({ name: 'CustodyAnchorZeroAnchorer', args: [] });
    });

    it('refuses to deploy with a malformed address before sending anything', async () => {
      const nonce = await provider.getTransactionCount(admin.address);
      await expect(deployCustodyAnchor(admin, { admin: 'not-an-address', anchorer: anchorer.address })).rejects.toThrow(
        /invalid address/,
      );
      expect(await provider.getTransactionCount(admin.address)).toBe(nonce);
    });
  });

  describe('anchoring', () => {
    it('anchors seq 0 and 1 in order, recording root, leaf count and block time', async () => {
      const anchor = await deployFresh();
      const rootA = id('root A');
      const rootB = id('root B');

      // version 2 stores the root; leaf count and block time are in the BatchAnchored log (there is no batch(seq) view)
      const receiptA = await mined(anchor.anchorBatch(0, rootA, 7));
      const blockA = await provider.getBlock(receiptA.blockNumber);
      expect(await anchor.nextSeq()).toBe(1n);
      expect(await anchor.batchRoot(0)).toBe(rootA);
      expect(anchoredLog(receiptA)).toEqual([0n, rootA, 7n, BigInt(blockA!.timestamp)]);

      const receiptB = await mined(anchor.anchorBatch(1, rootB, 1));
      const blockB = await provider.getBlock(receiptB.blockNumber);
      expect(await anchor.nextSeq()).toBe(2n);
      expect(await anchor.batchRoot(0)).toBe(rootA);
      expect(await anchor.batchRoot(1)).toBe(rootB);
      expect(anchoredLog(receiptB)).toEqual([1n, rootB, 1n, BigInt(blockB!.timestamp)]);
    });

    it('emits BatchAnchored with seq, root, leaf count and timestamp, seq and root indexed', async () => {
      const anchor = await deployFresh();
      const root = id('event root');
      const receipt = await mined(anchor.anchorBatch(0, root, 42));
      const block = await provider.getBlock(receipt.blockNumber);

      const logs = receipt.logs.map((log) => anchorInterface.parseLog(log)).filter((log) => log !== null);
      expect(logs.map((log) => log.name)).toEqual(['BatchAnchored']);
      expect([...logs[0].args]).toEqual([0n, root, 42n, BigInt(block!.timestamp)]);

      // seq and root are topics, so clients can look a batch up by either
      const bySeq = await anchor.queryFilter(anchor.filters.BatchAnchored(0), receipt.blockNumber);
      const byRoot = await anchor.queryFilter(anchor.filters.BatchAnchored(null, root), receipt.blockNumber);
      expect(bySeq.map((e) => e.transactionHash)).toEqual([receipt.hash]);
      expect(byRoot.map((e) => e.transactionHash)).toEqual([receipt.hash]);
    });

    it('returns zeros for a batch that has not been anchored', async () => {
      const anchor = await deployFresh();
      expect(await anchor.batchRoot(0)).toBe(ZeroHash);
      expect(await anchor.batchRoot(2n ** 64n - 1n)).toBe(ZeroHash);
    });

    it('accepts the largest leaf count', async () => {
      const anchor = await deployFresh();
      const receipt = await mined(anchor.anchorBatch(0, id('big'), 2 ** 32 - 1));
      expect(anchoredLog(receipt)[2]).toBe(2n ** 32n - 1n);
    });
  });

  describe('anchoring rejections', () => {
    it('rejects a sequence number ahead of nextSeq', async () => {
      const anchor = await deployFresh();
      expect(await revertOf(anchor.anchorBatch(1, id('r'), 1))).toEqual({
        name: 'CustodyAnchorUnexpectedSeq',
        args: [0n, 1n],
      });
      await mined(anchor.anchorBatch(0, id('r'), 1));
      expect(await revertOf(anchor.anchorBatch(5, id('r'), 1))).toEqual({
        name: 'CustodyAnchorUnexpectedSeq',
        args: [1n, 5n],
      });
      expect(await anchor.nextSeq()).toBe(1n);
    });

    it('rejects a repeated sequence number and never overwrites the anchored root', async () => {
      const anchor = await deployFresh();
      const original = id('original');
      await mined(anchor.anchorBatch(0, original, 3));

      expect(await revertOf(anchor.anchorBatch(0, id('replacement'), 3))).toEqual({
        name: 'CustodyAnchorUnexpectedSeq',
        args: [1n, 0n],
      });
      expect(await revertOf(anchor.anchorBatch(0, original, 3))).toEqual({
        name: 'CustodyAnchorUnexpectedSeq',
        args: [1n, 0n],
      });
      expect(await anchor.batchRoot(0)).toBe(original);
      expect(await anchor.nextSeq()).toBe(1n);
    });

    it('rejects a zero root', async () => {
      const anchor = await deployFresh();
      expect(await revertOf(anchor.anchorBatch(0, ZeroHash, 1))).toEqual({ name: 'CustodyAnchorZeroRoot', args: [] });
      expect(await anchor.nextSeq()).toBe(0n);
    });

    it('rejects an empty batch (leaf count 0)', async () => {
      const anchor = await deployFresh();
      expect(await revertOf(anchor.anchorBatch(0, id('r'), 0))).toEqual({ name: 'CustodyAnchorEmptyBatch', args: [] });
      expect(await anchor.nextSeq()).toBe(0n);
    });

    it('checks the sequence number before the root and the leaf count', async () => {
      const anchor = await deployFresh();
      expect(await revertOf(anchor.anchorBatch(3, ZeroHash, 0))).toEqual({
        name: 'CustodyAnchorUnexpectedSeq',
        args: [0n, 3n],
      });
    });
  });

  describe('roles', () => {
    it('rejects anchoring by an account without ANCHORER_ROLE', async () => {
      const anchor = await deployFresh();
      expect(await revertOf(as(outsider, anchor).anchorBatch(0, id('r'), 1))).toEqual({
        name: 'AccessControlUnauthorizedAccount',
        args: [outsider.address, anchorerRole],
      });
      expect(await anchor.nextSeq()).toBe(0n);
    });

    it('rejects anchoring by the admin, who manages roles but does not hold ANCHORER_ROLE', async () => {
      const anchor = await deployFresh();
      expect(await revertOf(as(admin, anchor).anchorBatch(0, id('r'), 1))).toEqual({
        name: 'AccessControlUnauthorizedAccount',
        args: [admin.address, anchorerRole],
      });
    });

    it('rejects the anchorer granting ANCHORER_ROLE to another account', async () => {
      const anchor = await deployFresh();
      expect(await revertOf(anchor.grantRole(anchorerRole, outsider.address))).toEqual({
        name: 'AccessControlUnauthorizedAccount',
        args: [anchorer.address, DEFAULT_ADMIN_ROLE],
      });
      expect(await revertOf(anchor.grantRole(DEFAULT_ADMIN_ROLE, anchorer.address))).toEqual({
        name: 'AccessControlUnauthorizedAccount',
        args: [anchorer.address, DEFAULT_ADMIN_ROLE],
      });
      expect(await anchor.hasRole(anchorerRole, outsider.address)).toBe(false);
      expect(await anchor.hasRole(DEFAULT_ADMIN_ROLE, anchorer.address)).toBe(false);
    });

    it('lets the admin hand ANCHORER_ROLE to a new account and revoke it from the old one', async () => {
      const anchor = await deployFresh();
      const asAdmin = as(admin, anchor);
      const asOutsider = as(outsider, anchor);
      await mined(asAdmin.grantRole(anchorerRole, outsider.address));
      // the initial anchorer's shortcut must be closed first (see 'the initial anchorer's shortcut' below)
      await mined(asAdmin.closeAnchorerShortcut({ value: 1n }));
      await mined(asAdmin.revokeRole(anchorerRole, anchorer.address));

      await mined(asOutsider.anchorBatch(0, id('rotated'), 2));
      expect(await anchor.batchRoot(0)).toBe(id('rotated'));
      expect(await revertOf(anchor.anchorBatch(1, id('old key'), 2))).toEqual({
        name: 'AccessControlUnauthorizedAccount',
        args: [anchorer.address, anchorerRole],
      });
    });
  });

  describe('one storage write per batch (version 2)', () => {
    /** The storage slot of batch `seq`'s root: `_roots` is the mapping in slot 1 (AccessControl's `_roles` is slot 0). */
    const rootSlot = (seq: bigint) => keccak256(AbiCoder.defaultAbiCoder().encode(['uint256', 'uint256'], [seq, 1n]));

    async function storageWrites(hash: string): Promise<number> {
      const trace = (await provider.send('debug_traceTransaction', [hash, {}])) as { structLogs: { op: string }[] };
      return trace.structLogs.filter((step) => step.op === 'SSTORE').length;
    }

    it('costs at most 50,000 gas a batch, the first one included, and writes exactly one slot: the root', async () => {
      const anchor = await deployFresh();
      const gas: bigint[] = [];
      // 260 batches: past seq 255, so seq takes two non-zero calldata bytes; the largest leaf count (four)
      for (let seq = 0; seq < 260; seq++) {
        const receipt = await mined(anchor.anchorBatch(seq, id(`gas root ${seq}`), 2 ** 32 - 1));
        gas.push(receipt.gasUsed);
        if (seq === 0 || seq === 1 || seq === 259) {
          expect(await storageWrites(receipt.hash)).toBe(1);
          expect(await provider.getStorage(anchor.target, rootSlot(BigInt(seq)))).toBe(id(`gas root ${seq}`));
        }
      }
      expect(gas[0]).toBeLessThanOrEqual(50_000n);
      expect(gas[1]).toBeLessThanOrEqual(50_000n);
      expect(gas.filter((g) => g > 50_000n)).toEqual([]);
      // version 1 cost 93,735 and 76,640: the saving is the second slot of the batch and the stored count
      expect(gas[0]).toBeLessThan(48_000n);
    });

    it('answers nextSeq, batchRoot and verifyInclusion as before without a stored count', async () => {
      const anchor = await deployFresh();
      for (let n = 0; n <= 70; n++) {
        expect(await anchor.nextSeq()).toBe(BigInt(n));
        expect(await anchor.batchRoot(n)).toBe(ZeroHash);
        expect(await anchor.verifyInclusion(n, id(`next ${n}`), [])).toBe(false);
        await mined(anchor.anchorBatch(n, id(`next ${n}`), 1));
        expect(await anchor.batchRoot(n)).toBe(id(`next ${n}`));
        expect(await anchor.verifyInclusion(n, id(`next ${n}`), [])).toBe(true);
      }
    });

    it('finds nextSeq past a thousand batches (roots planted in storage), and anchoring continues from it', async () => {
      const anchor = await deployFresh();
      const seqs = Array.from({ length: 1025 }, (_, i) => BigInt(i));
      await Promise.all(seqs.map((seq) => provider.send('hardhat_setStorageAt', [anchor.target, rootSlot(seq), id(`planted ${seq}`)])));
      expect(await anchor.nextSeq()).toBe(1025n);
      expect(await revertOf(anchor.anchorBatch(1024, id('overwrite'), 1))).toEqual({ name: 'CustodyAnchorUnexpectedSeq', args: [1025n, 1024n] });
      expect(await revertOf(anchor.anchorBatch(1026, id('skip'), 1))).toEqual({ name: 'CustodyAnchorUnexpectedSeq', args: [1025n, 1026n] });
      await mined(anchor.anchorBatch(1025, id('next'), 1));
      expect(await anchor.nextSeq()).toBe(1026n);
      expect(await anchor.batchRoot(1024)).toBe(id('planted 1024'));
    });

    it('still rejects skipping, overwriting, a zero root and a non-anchorer, and changes nothing when it does', async () => {
      const anchor = await deployFresh();
      await mined(anchor.anchorBatch(0, id('a'), 1));
      await mined(anchor.anchorBatch(1, id('b'), 1));
      const attempts: [string, Promise<unknown>, DecodedRevert][] = [
        ['skip', anchor.anchorBatch(3, id('c'), 1), { name: 'CustodyAnchorUnexpectedSeq', args: [2n, 3n] }],
        ['far skip', anchor.anchorBatch(2n ** 64n - 1n, id('c'), 1), { name: 'CustodyAnchorUnexpectedSeq', args: [2n, 2n ** 64n - 1n] }],
        ['overwrite the last', anchor.anchorBatch(1, id('c'), 1), { name: 'CustodyAnchorUnexpectedSeq', args: [2n, 1n] }],
        ['overwrite the first', anchor.anchorBatch(0, id('c'), 1), { name: 'CustodyAnchorUnexpectedSeq', args: [2n, 0n] }],
        ['zero root', anchor.anchorBatch(2, ZeroHash, 1), { name: 'CustodyAnchorZeroRoot', args: [] }],
        ['empty batch', anchor.anchorBatch(2, id('c'), 0), { name: 'CustodyAnchorEmptyBatch', args: [] }],
        ['outsider', as(outsider, anchor).anchorBatch(2, id('c'), 1), { name: 'AccessControlUnauthorizedAccount', args: [outsider.address, anchorerRole] }],
        ['admin', as(admin, anchor).anchorBatch(2, id('c'), 1), { name: 'AccessControlUnauthorizedAccount', args: [admin.address, anchorerRole] }],
      ];
      for (const [, attempt, expected] of attempts) expect(await revertOf(attempt)).toEqual(expected);
      expect(await anchor.nextSeq()).toBe(2n);
      expect([await anchor.batchRoot(0), await anchor.batchRoot(1), await anchor.batchRoot(2), await anchor.batchRoot(3)]).toEqual([id('a'), id('b'), ZeroHash, ZeroHash]);
    });

    it('has no batch(seq) view: version 1 callers get a revert, not zeros that would read as "anchored at 1970"', async () => {
      const anchor = await deployFresh();
      await mined(anchor.anchorBatch(0, id('r'), 3));
      expect(anchorInterface.getFunction('batch(uint64)')).toBeNull();
      const v1 = new Interface(['function batch(uint64 seq) view returns (bytes32 root, uint32 leafCount, uint64 anchoredAt)']);
      await expect(provider.call({ to: anchor.target, data: v1.encodeFunctionData('batch', [0]) })).rejects.toThrow();
      expect(await anchor.ANCHOR_VERSION()).toBe(2n);
    });
  });

  describe("the initial anchorer's shortcut (no role lookup while the contract holds no ether)", () => {
    /** Sends `wei` to `target` without calling it: a contract that self-destructs in its constructor. */
    async function forceSend(target: string, wei: bigint): Promise<void> {
      await (await admin.sendTransaction({ data: '0x73' + target.slice(2).toLowerCase() + 'ff', value: wei })).wait();
    }

    it('is open after deployment, and another anchorer pays the role lookup (about 2,100 gas more)', async () => {
      const anchor = await deployFresh();
      expect(await anchor.anchorerShortcutOpen()).toBe(true);
      await mined(as(admin, anchor).grantRole(anchorerRole, outsider.address));
      await mined(anchor.anchorBatch(0, id('a'), 1));
      const viaShortcut = (await mined(anchor.anchorBatch(1, id('b'), 1))).gasUsed;
      const viaRole = (await mined(as(outsider, anchor).anchorBatch(2, id('c'), 1))).gasUsed;
      expect(viaShortcut).toBeLessThanOrEqual(50_000n);
      expect(viaRole - viaShortcut).toBeGreaterThan(2_100n);
      expect(viaRole - viaShortcut).toBeLessThan(2_500n);
    });

    it('refuses to revoke or renounce the initial anchorer while open, so a revoked anchorer can never use it', async () => {
      const anchor = await deployFresh();
      const asAdmin = as(admin, anchor);
      expect(await revertOf(asAdmin.revokeRole(anchorerRole, anchorer.address))).toEqual({ name: 'CustodyAnchorShortcutOpen', args: [anchorer.address] });
      expect(await revertOf(anchor.renounceRole(anchorerRole, anchorer.address))).toEqual({ name: 'CustodyAnchorShortcutOpen', args: [anchorer.address] });
      expect(await anchor.hasRole(anchorerRole, anchorer.address)).toBe(true);
      expect(await revertOf(asAdmin.closeAnchorerShortcut())).toEqual({ name: 'CustodyAnchorNoValue', args: [] });

      const closed = await mined(asAdmin.closeAnchorerShortcut({ value: 1n }));
      expect(closed.logs.map((log) => anchorInterface.parseLog(log)?.name)).toEqual(['AnchorerShortcutClosed']);
      expect(await anchor.anchorerShortcutOpen()).toBe(false);
      await mined(anchor.anchorBatch(0, id('still mine'), 1)); // through the role now
      await mined(asAdmin.revokeRole(anchorerRole, anchorer.address));
      expect(await revertOf(anchor.anchorBatch(1, id('revoked'), 1))).toEqual({
        name: 'AccessControlUnauthorizedAccount',
        args: [anchorer.address, anchorerRole],
      });
      // ether sent later changes nothing: the balance only grows, the shortcut stays closed
      await forceSend(anchor.target as string, 5n);
      expect(await revertOf(anchor.anchorBatch(1, id('revoked'), 1))).toEqual({
        name: 'AccessControlUnauthorizedAccount',
        args: [anchorer.address, anchorerRole],
      });
      expect(await anchor.nextSeq()).toBe(1n);
    });

    it('lets the initial anchorer renounce its role once closed', async () => {
      const anchor = await deployFresh();
      await mined(as(outsider, anchor).closeAnchorerShortcut({ value: 1n })); // anyone may close it
      await mined(anchor.renounceRole(anchorerRole, anchorer.address));
      expect(await revertOf(anchor.anchorBatch(0, id('r'), 1))).toEqual({ name: 'AccessControlUnauthorizedAccount', args: [anchorer.address, anchorerRole] });
    });

    it('ether forced in by someone else (selfdestruct) only closes it: the anchorer keeps anchoring through its role', async () => {
      const anchor = await deployFresh();
      await mined(anchor.anchorBatch(0, id('a'), 1));
      const open = (await mined(anchor.anchorBatch(1, id('b'), 1))).gasUsed;
      await forceSend(anchor.target as string, 1n);
      expect(await provider.getBalance(anchor.target)).toBe(1n);
      expect(await anchor.anchorerShortcutOpen()).toBe(false);
      const closed = (await mined(anchor.anchorBatch(2, id('c'), 1))).gasUsed;
      expect(closed - open).toBeGreaterThan(2_100n);
      expect(await anchor.batchRoot(2)).toBe(id('c'));
    });

    it('is only for the initial anchorer: an account granted the role later goes through the lookup, and loses it on revocation', async () => {
      const anchor = await deployFresh();
      const asAdmin = as(admin, anchor);
      await mined(asAdmin.grantRole(anchorerRole, outsider.address));
      await mined(as(outsider, anchor).anchorBatch(0, id('a'), 1));
      await mined(asAdmin.revokeRole(anchorerRole, outsider.address)); // no shortcut to close for it
      expect(await revertOf(as(outsider, anchor).anchorBatch(1, id('b'), 1))).toEqual({ name: 'AccessControlUnauthorizedAccount', args: [outsider.address, anchorerRole] });
      expect(await anchor.anchorerShortcutOpen()).toBe(true);
    });
  });

  describe('custodyLeaf', () => {
    it('equals the OpenZeppelin standard leaf keccak256(keccak256(abi.encode(digest, sigHash, prevLeaf)))', async () => {
      const anchor = await deployFresh();
      const values = [...chainedLeafValues(3, 'leaf'), [ZeroHash, ZeroHash, ZeroHash] as LeafValues];
      const ozTree = StandardMerkleTree.of(values, LEAF_TYPES);
      for (const v of values) {
        const onChain = (await anchor.custodyLeaf(...v)) as string;
        expect(onChain).toBe(standardLeaf(v));
        expect(onChain).toBe(ozTree.leafHash(v));
      }
    });

    it('depends on the previous leaf, so reordering a shipment changes every later leaf', async () => {
      const anchor = await deployFresh();
      const [digest, sigHash] = [id('d'), id('s')];
      const first = (await anchor.custodyLeaf(digest, sigHash, ZeroHash)) as string;
      const chained = (await anchor.custodyLeaf(digest, sigHash, id('previous'))) as string;
      expect(chained).not.toBe(first);
    });
  });

  describe('verifyInclusion', () => {
    // 7 leaves: an odd count, so one node is carried up unpaired
    const values = chainedLeafValues(7, 'inclusion');
    const leaves = values.map(standardLeaf);
    const jsTree = merkletreejsTree(leaves);
    const ozTree = StandardMerkleTree.of(values, LEAF_TYPES);
    let anchor: Contract;

    beforeAll(async () => {
      anchor = await deployFresh();
      await mined(anchor.anchorBatch(0, jsTree.getHexRoot(), leaves.length));
      await mined(anchor.anchorBatch(1, ozTree.root, values.length));
    });

    it('accepts every leaf with its merkletreejs (sortPairs) proof', async () => {
      for (const leaf of leaves) {
        const proof = jsTree.getHexProof(Buffer.from(getBytes(leaf)));
        expect(await anchor.verifyInclusion(0, leaf, proof)).toBe(true);
      }
    });

    it('accepts every leaf with its StandardMerkleTree proof', async () => {
      for (const [i, v] of values.entries()) {
        const proof = ozTree.getProof(i);
        expect(StandardMerkleTree.verify(ozTree.root, LEAF_TYPES, v, proof)).toBe(true);
        expect(await anchor.verifyInclusion(1, standardLeaf(v), proof)).toBe(true);
      }
    });

    it('rejects a leaf with the proof of another leaf', async () => {
      const proof = jsTree.getHexProof(Buffer.from(getBytes(leaves[0])));
      expect(await anchor.verifyInclusion(0, leaves[1], proof)).toBe(false);
      expect(await anchor.verifyInclusion(0, id('not a leaf'), proof)).toBe(false);
    });

    it('rejects a proof with one altered or missing sibling', async () => {
      const proof = jsTree.getHexProof(Buffer.from(getBytes(leaves[3])));
      const altered = [...proof];
      altered[1] = toBeHex(BigInt(altered[1]) ^ 1n, 32);
      expect(await anchor.verifyInclusion(0, leaves[3], altered)).toBe(false);
      expect(await anchor.verifyInclusion(0, leaves[3], proof.slice(0, -1))).toBe(false);
      expect(await anchor.verifyInclusion(0, leaves[3], [])).toBe(false);
    });

    it('rejects a valid proof checked against another batch', async () => {
      const proof = ozTree.getProof(2);
      expect(await anchor.verifyInclusion(0, standardLeaf(values[2]), proof)).toBe(false);
    });

    it('returns false for a batch that has not been anchored, even for an empty proof of the zero leaf', async () => {
      const proof = ozTree.getProof(0);
      expect(await anchor.verifyInclusion(2, standardLeaf(values[0]), proof)).toBe(false);
      expect(await anchor.verifyInclusion(2, ZeroHash, [])).toBe(false);
    });

    it('accepts a one-leaf batch, whose root is the leaf, with an empty proof', async () => {
      const single = await deployFresh();
      const [v] = chainedLeafValues(1, 'single');
      const tree = StandardMerkleTree.of([v], LEAF_TYPES);
      expect(tree.root).toBe(standardLeaf(v));
      await mined(single.anchorBatch(0, tree.root, 1));
      expect(await single.verifyInclusion(0, standardLeaf(v), tree.getProof(0))).toBe(true);
    });

    it('also accepts an inner node with a shorter proof, which is why callers derive the leaf with custodyLeaf', async () => {
      const innerNode = '0x' + jsTree.getLayers()[1][0].toString('hex');
      const proofOfLeaf0 = jsTree.getHexProof(Buffer.from(getBytes(leaves[0])));
      expect(await anchor.verifyInclusion(0, innerNode, proofOfLeaf0.slice(1))).toBe(true);
    });
  });

  describe('signing spec v1 vectors (test/vectors/signing-v1.json)', () => {
    const vectorsPath = path.join(ROOT, 'test', 'vectors', 'signing-v1.json');
    const vectorsPresent = fs.existsSync(vectorsPath);

    interface SigningVectors {
      version: string;
      events: { digest: string; signaturesHash: string; previousLeaf: string; leaf: string }[];
      merkle: { root: string; proofs: string[][] };
    }

    (vectorsPresent ? it : it.skip)('computes every vector leaf on chain and verifies every vector proof against the anchored root', async () => {
      const vectors = JSON.parse(fs.readFileSync(vectorsPath, 'utf8')) as SigningVectors;
      expect(vectors.version).toBe('custody-signing/1');
      expect(vectors.events.length).toBeGreaterThan(0);
      expect(vectors.merkle.proofs).toHaveLength(vectors.events.length);

      const anchor = await deployFresh();
      for (const e of vectors.events) {
        expect(await anchor.custodyLeaf(e.digest, e.signaturesHash, e.previousLeaf)).toBe(e.leaf);
      }
      await mined(anchor.anchorBatch(0, vectors.merkle.root, vectors.events.length));
      for (const [i, e] of vectors.events.entries()) {
        expect(await anchor.verifyInclusion(0, e.leaf, vectors.merkle.proofs[i])).toBe(true);
      }
      // and the proofs are bound to their leaves
      if (vectors.events.length > 1) {
        expect(await anchor.verifyInclusion(0, vectors.events[1].leaf, vectors.merkle.proofs[0])).toBe(false);
      }
    });
  });

  describe('committed artifact', () => {
    it('matches a fresh compile of contracts/CustodyAnchor.sol (run `npm run contracts:build` if not)', async () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const hre = require('hardhat') as typeof import('hardhat');
      expect(hre.config.paths.root).toBe(ROOT);
      await hre.run('compile', { quiet: true });
      const compiled = JSON.parse(
        fs.readFileSync(path.join(ROOT, 'artifacts', 'contracts', 'CustodyAnchor.sol', 'CustodyAnchor.json'), 'utf8'),
      ) as { contractName: string; sourceName: string; abi: unknown[]; bytecode: string; deployedBytecode: string };

      expect(CUSTODY_ANCHOR_ARTIFACT.contractName).toBe(compiled.contractName);
      expect(CUSTODY_ANCHOR_ARTIFACT.sourceName).toBe(compiled.sourceName);
      expect(CUSTODY_ANCHOR_ARTIFACT.solcVersion).toBe(hre.config.solidity.compilers[0].version);
      expect(CUSTODY_ANCHOR_ARTIFACT.abi).toEqual(compiled.abi);
      // compared by hash: a failure then prints two short lines instead of two 5 kB hex strings
      expect(keccak256(CUSTODY_ANCHOR_ARTIFACT.bytecode)).toBe(keccak256(compiled.bytecode));
      expect(keccak256(CUSTODY_ANCHOR_ARTIFACT.deployedBytecode)).toBe(keccak256(compiled.deployedBytecode));
    });
  });
});
