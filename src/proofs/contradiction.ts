import { Interface, getAddress } from 'ethers';
import { CUSTODY_ANCHOR_ABI } from '../anchoring/custody-anchor';
import type { PodStateProof, ProofBundleV2 } from './pod-bundle';

/**
 * Two bundles' states that contradict each other: the later one rewinds the shipment's head (fewer
 * events, or as many with another head) or changes a key's organization or valid-from time or
 * undoes its revocation. Heads only move forward and keys are registered once, so an honest ledger
 * never produces such a pair. The result is the CustodyAnchor call that proves it on chain.
 */
export interface Contradiction {
  earlierSeq: string;
  laterSeq: string;
  /** what contradicts, for people */
  message: string;
  /** proveShipmentContradiction or proveKeyContradiction */
  method: 'proveShipmentContradiction' | 'proveKeyContradiction';
  /** the call's data: send it to the pinned contract from any account */
  calldata: string;
}

const anchor = new Interface(CUSTODY_ANCHOR_ABI as never);
const ref = (s: PodStateProof) => ({ seq: BigInt(s.seq), eventsRoot: s.eventsRoot, stateRoot: s.stateRoot });

export function findContradiction(a: ProofBundleV2, b: ProofBundleV2): Contradiction | null {
  if (!a.state || !b.state || a.shipment.carrier !== b.shipment.carrier || a.shipment.trackingNumber !== b.shipment.trackingNumber) return null;
  const [earlier, later] = BigInt(a.state.seq) <= BigInt(b.state.seq) ? [a.state, b.state] : [b.state, a.state];
  if (BigInt(earlier.seq) === BigInt(later.seq)) return null;
  const h0 = earlier.shipment;
  const h1 = later.shipment;
  if (h1.eventCount < h0.eventCount || (h1.eventCount === h0.eventCount && h1.headLeaf.toLowerCase() !== h0.headLeaf.toLowerCase())) {
    const record = (h: PodStateProof['shipment']) => ({ headLeaf: h.headLeaf, eventCount: BigInt(h.eventCount), siblings: h.proof });
    return {
      earlierSeq: earlier.seq,
      laterSeq: later.seq,
      message: `the state of batch ${later.seq} gives the shipment ${h1.eventCount} events ending at ${h1.headLeaf}, the earlier state of batch ${earlier.seq} gave it ${h0.eventCount} ending at ${h0.headLeaf}: its history was rewritten`,
      method: 'proveShipmentContradiction',
      calldata: anchor.encodeFunctionData('proveShipmentContradiction', [ref(earlier), record(h0), ref(later), record(h1), a.shipment.carrier, a.shipment.trackingNumber]),
    };
  }
  const keysOf = new Map(later.signingKeys.map((k) => [k.address.toLowerCase(), k]));
  for (const k0 of earlier.signingKeys) {
    const k1 = keysOf.get(k0.address.toLowerCase());
    if (!k1) continue;
    if (k0.organization === k1.organization && k0.validFromMs === k1.validFromMs && (k0.revokedAtMs === null || k0.revokedAtMs === k1.revokedAtMs)) continue;
    const record = (k: PodStateProof['signingKeys'][number]) => ({ organization: k.organization, validFromMs: BigInt(k.validFromMs), revokedAtMs: BigInt(k.revokedAtMs ?? 0), siblings: k.proof });
    return {
      earlierSeq: earlier.seq,
      laterSeq: later.seq,
      message: `the state of batch ${later.seq} records key ${k0.address} as (${k1.organization}, valid from ${k1.validFromMs}, revoked ${k1.revokedAtMs ?? 'never'}), the earlier state of batch ${earlier.seq} as (${k0.organization}, valid from ${k0.validFromMs}, revoked ${k0.revokedAtMs ?? 'never'}): the key registry was rewritten`,
      method: 'proveKeyContradiction',
      calldata: anchor.encodeFunctionData('proveKeyContradiction', [ref(earlier), record(k0), ref(later), record(k1), getAddress(k0.address.toLowerCase())]),
    };
  }
  return null;
}
