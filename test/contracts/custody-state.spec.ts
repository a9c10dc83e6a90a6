import fs from 'node:fs';
import path from 'node:path';
import { Contract, Wallet, ZeroHash, id, isError, toBeHex, type ContractTransactionResponse } from 'ethers';
import { freshAnchorChain, type AnchorChain } from '../support/anchor-chain';
import { buildBatchTree } from '../../src/batching/merkle';
import { custodyLeaf } from '../../src/signing/custody-signing';
import {
  batchRootV2,
  stateCommitment,
  shipmentStateKey,
  shipmentStateValue,
  signingKeyStateKey,
  signingKeyStateValue,
  stateProof,
  stateRoot,
} from '../../src/state/custody-state';
import type { StateVector } from '../state/custody-state.spec';

const ROOT = path.resolve(__dirname, '../..');
// Hardhat reads its config path once, when first loaded (here or by startEmbeddedChain).
process.env.HARDHAT_CONFIG = path.join(ROOT, 'hardhat.config.ts');
const vector = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/vectors/custody-state-v1.json'), 'utf8')) as StateVector;

const flip = (hex: string): string => toBeHex(BigInt(hex) ^ 1n, 32);

async function mined(tx: Promise<ContractTransactionResponse>): Promise<void> {
  await (await tx).wait();
}

/** Awaits `action`, which must revert with a custom error of CustodyAnchor, and returns its name and arguments. */
async function revertOf(anchor: Contract, action: Promise<unknown>): Promise<{ name: string; args: unknown[] }> {
  try {
    await action;
  } catch (error) {
    if (isError(error, 'CALL_EXCEPTION') && error.data) {
      const parsed = anchor.interface.parseError(error.data);
      if (parsed) return { name: parsed.name, args: [...parsed.args] };
    }
    throw error;
  }
  throw new Error('expected a revert, but the call succeeded');
}

/** `count` chained event leaves of one shipment, as the service chains them. */
function chainedLeaves(count: number, label: string): string[] {
  const leaves: string[] = [];
  let previous = ZeroHash;
  for (let i = 0; i < count; i++) {
    previous = custodyLeaf(id(`${label} digest ${i}`), id(`${label} signatures ${i}`), previous);
    leaves.push(previous);
  }
  return leaves;
}

describe('CustodyAnchor custody-state/1 views', () => {
  let env: AnchorChain;
  let anchor: Contract;

  beforeAll(async () => {
    env = await freshAnchorChain();
    anchor = env.anchor;
  });

  afterAll(async () => {
    await env?.close();
  });

  describe('pure functions against the pinned vector (test/vectors/custody-state-v1.json)', () => {
    const records = () => [...vector.records.shipments, ...vector.records.signingKeys];

    it('derives every shipment key from its plain fields (value hashes: through verifyShipmentHead below)', async () => {
      for (const s of vector.records.shipments) {
        expect(await anchor.shipmentStateKey(s.carrier, s.trackingNumber)).toBe(s.key);
      }
    });

    it('derives every signing-key key from its plain fields (value hashes: through verifySigningKey below)', async () => {
      for (const k of vector.records.signingKeys) {
        expect(await anchor.signingKeyStateKey(k.address)).toBe(k.key);
      }
    });

    it('computes every leaf and folds every proof to its root, up to 256 siblings', async () => {
      const maps = [
        { entries: records(), root: vector.records.root },
        { entries: vector.rawKeys.entries, root: vector.rawKeys.root },
        { entries: [vector.single.shipment], root: vector.single.root },
      ];
      for (const { entries, root } of maps) {
        for (const e of entries) {
          expect(await anchor.stateLeafHash(e.key, e.valueHash)).toBe(e.leaf);
          expect(await anchor.stateRootFromProof(e.key, e.valueHash, e.proof)).toBe(root);
        }
      }
      expect(vector.rawKeys.entries.map((e) => e.proof.length)).toContain(256);
    });

    it.each(vector.negative.map((n) => [n.description, n] as const))('does not verify %s', async (_description, n) => {
      if (n.proof.length > 256) {
        expect(await revertOf(anchor, anchor.stateRootFromProof(n.key, n.valueHash, n.proof))).toEqual({
          name: 'CustodyAnchorProofTooLong',
          args: [BigInt(n.proof.length)],
        });
      } else {
        expect(await anchor.stateRootFromProof(n.key, n.valueHash, n.proof)).not.toBe(n.root);
      }
    });

    it('computes every custody-tree/2 batch root', async () => {
      for (const b of vector.batchRoots) expect(await anchor.batchRootV2(b.eventsRoot, b.stateRoot)).toBe(b.root);
    });
  });

  describe('settling on an anchored custody-tree/2 batch', () => {
    const carrier = 'acme-express';
    const trackingNumber = 'ESCROW-0001';
    const parcel = chainedLeaves(5, 'escrow parcel');
    const otherParcel = chainedLeaves(2, 'other parcel');
    const device = new Wallet(id('custody-state.spec device key')).address;
    const retired = new Wallet(id('custody-state.spec retired key')).address;
    const deviceKey = { organization: 'acme-express', validFromMs: 1764000000000n, revokedAtMs: 0n };
    const retiredKey = { organization: 'acme-express', validFromMs: 1760000000000n, revokedAtMs: 1764090000000n };

    /** The state after a batch: the vector's records plus this test's shipments and keys. */
    function stateAfter(head: string, count: number): { key: string; valueHash: string }[] {
      return [
        ...vector.records.shipments,
        ...vector.records.signingKeys,
        { key: shipmentStateKey(carrier, trackingNumber), valueHash: shipmentStateValue(head, count) },
        { key: shipmentStateKey(carrier, 'OTHER-0002'), valueHash: shipmentStateValue(otherParcel[1], 2) },
        { key: signingKeyStateKey(device), valueHash: signingKeyStateValue(deviceKey.organization, deviceKey.validFromMs, deviceKey.revokedAtMs) },
        { key: signingKeyStateKey(retired), valueHash: signingKeyStateValue(retiredKey.organization, retiredKey.validFromMs, retiredKey.revokedAtMs) },
      ];
    }

    // batch 1: the parcel's first 4 events and the other parcel's 2; batch 2: the parcel's 5th
    const events1 = [...parcel.slice(0, 4), ...otherParcel];
    const state1 = stateAfter(parcel[3], 4);
    const state2 = stateAfter(parcel[4], 5);
    const stateRoot1 = stateRoot(state1);
    const stateRoot2 = stateRoot(state2);
    let eventsRoot1: string;
    let eventProofs1: string[][];
    let eventsRoot2: string;

    const shipmentProof1 = () => stateProof(state1, shipmentStateKey(carrier, trackingNumber));
    const shipmentProof2 = () => stateProof(state2, shipmentStateKey(carrier, trackingNumber));
    const deviceProof1 = () => stateProof(state1, signingKeyStateKey(device));
    const retiredProof1 = () => stateProof(state1, signingKeyStateKey(retired));

    beforeAll(async () => {
      const tree1 = await buildBatchTree(events1);
      const tree2 = await buildBatchTree([parcel[4]]);
      [eventsRoot1, eventProofs1, eventsRoot2] = [tree1.root, tree1.proofs, tree2.root];
      // seq 0 is a custody-tree/1 batch (events root only); seq 1 and 2 carry states
      await mined(anchor.anchorBatch(0, eventsRoot1, events1.length));
      await mined(anchor.anchorBatch(1, batchRootV2(eventsRoot1, stateRoot1), events1.length));
      await mined(anchor.anchorBatch(2, batchRootV2(eventsRoot2, stateRoot2), 1));
    });

    describe('verifyState', () => {
      it('accepts the events root and state root of an anchored batch', async () => {
        expect(await anchor.verifyState(1, eventsRoot1, stateRoot1)).toBe(true);
        expect(await anchor.verifyState(2, eventsRoot2, stateRoot2)).toBe(true);
      });

      it('rejects the two roots swapped', async () => {
        expect(await anchor.verifyState(1, stateRoot1, eventsRoot1)).toBe(false);
      });

      it('rejects the state root of another batch', async () => {
        expect(await anchor.verifyState(1, eventsRoot1, stateRoot2)).toBe(false);
        expect(await anchor.verifyState(2, eventsRoot2, stateRoot1)).toBe(false);
      });

      it('rejects a batch anchored with a custody-tree/1 root', async () => {
        expect(await anchor.verifyState(0, eventsRoot1, stateRoot1)).toBe(false);
        expect(await anchor.verifyState(0, eventsRoot1, ZeroHash)).toBe(false);
      });

      it('rejects a sequence number that has not been anchored', async () => {
        expect(await anchor.verifyState(3, eventsRoot1, stateRoot1)).toBe(false);
        expect(await anchor.verifyState(2n ** 64n - 1n, ZeroHash, ZeroHash)).toBe(false);
      });
    });

    describe('verifyInclusion on custody-tree/2 batches (event proofs end with the state commitment)', () => {
      const v2Proof = (proof: string[], eventsRoot: string, root: string): string[] => [...proof, stateCommitment(eventsRoot, root)];

      it('accepts every event leaf of the batch with its proof, and the commitment is the contract\'s', async () => {
        for (const [i, leaf] of events1.entries()) {
          expect(await anchor.verifyInclusion(1, leaf, v2Proof(eventProofs1[i], eventsRoot1, stateRoot1))).toBe(true);
        }
        expect(await anchor.verifyInclusion(2, parcel[4], v2Proof([], eventsRoot2, stateRoot2))).toBe(true);
        expect(await anchor.stateCommitment(eventsRoot1, stateRoot1)).toBe(stateCommitment(eventsRoot1, stateRoot1));
      });

      it('rejects a leaf with another leaf\'s proof, a flipped proof sibling and the bare event-tree proof', async () => {
        expect(await anchor.verifyInclusion(1, events1[1], v2Proof(eventProofs1[0], eventsRoot1, stateRoot1))).toBe(false);
        const flipped = eventProofs1[2].map((s, i) => (i === 1 ? flip(s) : s));
        expect(await anchor.verifyInclusion(1, events1[2], v2Proof(flipped, eventsRoot1, stateRoot1))).toBe(false);
        expect(await anchor.verifyInclusion(1, events1[0], eventProofs1[0])).toBe(false);
      });

      it('rejects the commitment to the state of another batch, an unanchored seq and a custody-tree/1 batch', async () => {
        expect(await anchor.verifyInclusion(1, events1[0], v2Proof(eventProofs1[0], eventsRoot1, stateRoot2))).toBe(false);
        expect(await anchor.verifyInclusion(3, events1[0], v2Proof(eventProofs1[0], eventsRoot1, stateRoot1))).toBe(false);
        expect(await anchor.verifyInclusion(0, events1[0], v2Proof(eventProofs1[0], eventsRoot1, stateRoot1))).toBe(false);
        // and the batch-1 event is not in batch 2
        expect(await anchor.verifyInclusion(2, events1[0], v2Proof(eventProofs1[0], eventsRoot2, stateRoot2))).toBe(false);
      });
    });

    describe('verifyShipmentHead', () => {
      const head = (seq: number, eventsRoot: () => string, root: () => string, headLeaf: string, count: number, siblings: () => string[], tn = trackingNumber) =>
        anchor.verifyShipmentHead(seq, eventsRoot(), root(), carrier, tn, headLeaf, count, siblings()) as Promise<boolean>;

      it('accepts the head leaf and event count recorded by each batch', async () => {
        expect(await head(1, () => eventsRoot1, () => stateRoot1, parcel[3], 4, shipmentProof1)).toBe(true);
        expect(await head(2, () => eventsRoot2, () => stateRoot2, parcel[4], 5, shipmentProof2)).toBe(true);
      });

      it('binds the head to the events of its batch: the head leaf verifies with verifyInclusion', async () => {
        expect(await anchor.verifyInclusion(1, parcel[3], [...eventProofs1[3], stateCommitment(eventsRoot1, stateRoot1)])).toBe(true);
      });

      it('rejects a wrong head leaf', async () => {
        expect(await head(1, () => eventsRoot1, () => stateRoot1, parcel[2], 4, shipmentProof1)).toBe(false);
        expect(await head(1, () => eventsRoot1, () => stateRoot1, parcel[4], 4, shipmentProof1)).toBe(false);
      });

      it('rejects a wrong event count', async () => {
        expect(await head(1, () => eventsRoot1, () => stateRoot1, parcel[3], 5, shipmentProof1)).toBe(false);
        expect(await head(1, () => eventsRoot1, () => stateRoot1, parcel[3], 3, shipmentProof1)).toBe(false);
      });

      it('rejects another tracking number with the same proof', async () => {
        expect(await head(1, () => eventsRoot1, () => stateRoot1, parcel[3], 4, shipmentProof1, 'ESCROW-0002')).toBe(false);
      });

      it('rejects a flipped sibling, a missing sibling and an over-long proof (false, no revert)', async () => {
        const proof = shipmentProof1();
        for (let d = 0; d < proof.length; d++) {
          const flipped = proof.map((s, i) => (i === d ? flip(s) : s));
          expect(await head(1, () => eventsRoot1, () => stateRoot1, parcel[3], 4, () => flipped)).toBe(false);
        }
        expect(await head(1, () => eventsRoot1, () => stateRoot1, parcel[3], 4, () => proof.slice(0, -1))).toBe(false);
        const tooLong = [...proof, ...new Array<string>(257 - proof.length).fill(ZeroHash)];
        expect(await head(1, () => eventsRoot1, () => stateRoot1, parcel[3], 4, () => tooLong)).toBe(false);
      });

      it('rejects the state root of another batch', async () => {
        // batch 2's state and proof checked against batch 1, and the other way round
        expect(await head(1, () => eventsRoot1, () => stateRoot2, parcel[4], 5, shipmentProof2)).toBe(false);
        expect(await head(2, () => eventsRoot2, () => stateRoot1, parcel[3], 4, shipmentProof1)).toBe(false);
      });

      it('rejects an unanchored seq and a custody-tree/1 batch', async () => {
        expect(await head(3, () => eventsRoot1, () => stateRoot1, parcel[3], 4, shipmentProof1)).toBe(false);
        expect(await head(0, () => eventsRoot1, () => stateRoot1, parcel[3], 4, shipmentProof1)).toBe(false);
      });

      it('rejects the events root and the state root swapped', async () => {
        expect(await head(1, () => stateRoot1, () => eventsRoot1, parcel[3], 4, shipmentProof1)).toBe(false);
      });
    });

    describe('verifySigningKey', () => {
      const key = (
        seq: number,
        roots: [string, string],
        signer: string,
        k: { organization: string; validFromMs: bigint; revokedAtMs: bigint },
        siblings: string[],
      ) => anchor.verifySigningKey(seq, roots[0], roots[1], signer, k.organization, k.validFromMs, k.revokedAtMs, siblings) as Promise<boolean>;
      const batch1 = (): [string, string] => [eventsRoot1, stateRoot1];

      it('accepts an active key and a revoked key with their records', async () => {
        expect(await key(1, batch1(), device, deviceKey, deviceProof1())).toBe(true);
        expect(await key(1, batch1(), retired, retiredKey, retiredProof1())).toBe(true);
        expect(await key(2, [eventsRoot2, stateRoot2], device, deviceKey, stateProof(state2, signingKeyStateKey(device)))).toBe(true);
      });

      it('rejects another organization', async () => {
        expect(await key(1, batch1(), device, { ...deviceKey, organization: 'berlin-hub' }, deviceProof1())).toBe(false);
      });

      it('rejects a changed revokedAt: a revoked key shown as active, an active key shown as revoked', async () => {
        expect(await key(1, batch1(), retired, { ...retiredKey, revokedAtMs: 0n }, retiredProof1())).toBe(false);
        expect(await key(1, batch1(), retired, { ...retiredKey, revokedAtMs: retiredKey.revokedAtMs + 1n }, retiredProof1())).toBe(false);
        expect(await key(1, batch1(), device, { ...deviceKey, revokedAtMs: 1764090000000n }, deviceProof1())).toBe(false);
      });

      it('rejects a changed validFrom and another signer with the same proof', async () => {
        expect(await key(1, batch1(), device, { ...deviceKey, validFromMs: deviceKey.validFromMs - 1n }, deviceProof1())).toBe(false);
        expect(await key(1, batch1(), retired, deviceKey, deviceProof1())).toBe(false);
      });

      it('rejects a flipped sibling', async () => {
        const proof = deviceProof1();
        const flipped = proof.map((s, i) => (i === proof.length - 1 ? flip(s) : s));
        expect(await key(1, batch1(), device, deviceKey, flipped)).toBe(false);
      });

      it('rejects the state root of another batch, an unanchored seq and the two roots swapped', async () => {
        expect(await key(1, [eventsRoot1, stateRoot2], device, deviceKey, stateProof(state2, signingKeyStateKey(device)))).toBe(false);
        expect(await key(3, batch1(), device, deviceKey, deviceProof1())).toBe(false);
        expect(await key(1, [stateRoot1, eventsRoot1], device, deviceKey, deviceProof1())).toBe(false);
      });
    });
  });
});
