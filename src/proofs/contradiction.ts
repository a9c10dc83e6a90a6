import { Interface, getAddress } from 'ethers';
import { CUSTODY_ANCHOR_ABI } from '../anchoring/custody-anchor';
import { delegationStateKey, delegationStateValue, verifyStateProof } from '../state/custody-state';
import type { PodDelegation, PodStateProof, ProofBundleV2, ProofBundleV3 } from './pod-bundle';

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

/**
 * Two custody-pod/3 bundles whose anchored delegation records contradict each other: the later
 * state changes a delegation's signed statement, moves or undoes its revocation, or revokes it
 * before a transfer the earlier state carried under it. An honest ledger only ever adds a
 * revocation dated after every transfer made under the delegation (REVOCATION_BEFORE_USE), so such
 * a pair means the operator rewrote history to void a consent. Both records must prove against
 * their states (the caller checks that both state roots are anchored). The contract has no method
 * to record this on chain, so the two bundles themselves are the evidence.
 */
export function findDelegationContradiction(a: ProofBundleV3, b: ProofBundleV3): { earlierSeq: string; laterSeq: string; message: string } | null {
  if (!a.state || !b.state || a.shipment.carrier !== b.shipment.carrier || a.shipment.trackingNumber !== b.shipment.trackingNumber) return null;
  const [earlier, later] = BigInt(a.state.seq) <= BigInt(b.state.seq) ? [a, b] : [b, a];
  if (BigInt(earlier.state!.seq) === BigInt(later.state!.seq)) return null;
  const proven = (bundle: ProofBundleV3, d: PodDelegation): boolean => {
    try {
      return d.state !== null && verifyStateProof(bundle.state!.stateRoot, delegationStateKey(d.fields.delegationId), delegationStateValue(d.digest, d.state.revokedAtMs), d.state.proof);
    } catch {
      return false;
    }
  };
  const laterBy = new Map(later.delegations.map((d) => [d.fields.delegationId.toLowerCase(), d]));
  for (const d0 of earlier.delegations) {
    const d1 = laterBy.get(d0.fields.delegationId.toLowerCase());
    if (!d1 || !proven(earlier, d0) || !proven(later, d1)) continue;
    const r0 = d0.state!.revokedAtMs;
    const r1 = d1.state!.revokedAtMs;
    const id = d0.fields.delegationId;
    const at = { earlierSeq: earlier.state!.seq, laterSeq: later.state!.seq };
    if (d0.digest.toLowerCase() !== d1.digest.toLowerCase()) return { ...at, message: `the state of batch ${at.laterSeq} records delegation ${id} with digest ${d1.digest}, the earlier state of batch ${at.earlierSeq} with ${d0.digest}: the signed statement was replaced` };
    if (r0 !== null && r1 !== r0) return { ...at, message: `the state of batch ${at.laterSeq} records delegation ${id} as revoked ${r1 === null ? 'never' : `at ${r1}`}, the earlier state of batch ${at.earlierSeq} as revoked at ${r0}: its revocation was rewritten` };
    if (r0 === null && r1 !== null) {
      const used = earlier.events.find((e) => e.consent?.delegationId?.toLowerCase() === id.toLowerCase() && e.batchSeq !== null && BigInt(e.batchSeq) <= BigInt(at.earlierSeq) && BigInt(e.fields.occurredAt) >= BigInt(r1));
      if (used) return { ...at, message: `the state of batch ${at.laterSeq} revokes delegation ${id} at ${r1}, before the ${used.fields.eventType} ${used.eventId} of ${used.fields.occurredAt} that the earlier state of batch ${at.earlierSeq} carried under it: the revocation was dated back over a consent already given` };
    }
  }
  return null;
}
