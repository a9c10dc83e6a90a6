import { getAddress } from 'ethers';

/**
 * Trust file `custody-trust/1`: which anchor contracts a verifier believes. A bundle names its own
 * chain and contract, and a forger can deploy a CustodyAnchor of their own and anchor anything on
 * it; only a root pinned in advance tells the real contract from theirs. The service publishes its
 * trust file (GET /trust.json, GraphQL `trustRoot`); a user saves it once.
 *
 *   { "format": "custody-trust/1",
 *     "anchors": [{ "chainId": "31337", "contract": "0x…", "fromSeq": "0", "deploymentBlock": 1 }] }
 *
 * `fromSeq`: the first batch seq anchored on that contract (a ledger that moves to a new contract
 * lists both, each from its first seq); `deploymentBlock`: where to start looking for its logs.
 */
export const TRUST_FORMAT = 'custody-trust/1';

export interface TrustAnchor {
  chainId: string;
  contract: string;
  fromSeq: string;
  deploymentBlock?: number | null;
}

export interface TrustFile {
  format: typeof TRUST_FORMAT;
  anchors: TrustAnchor[];
}

/** Validates a trust file; throws with a message that says what to fix. */
export function parseTrustFile(input: unknown): TrustFile {
  const t = input as Partial<TrustFile> | null;
  if (!t || typeof t !== 'object' || t.format !== TRUST_FORMAT) throw new Error(`a trust file needs "format": "${TRUST_FORMAT}"`);
  if (!Array.isArray(t.anchors) || t.anchors.length === 0) throw new Error('a trust file needs a non-empty "anchors" list');
  const anchors = t.anchors.map((a, i) => {
    if (!a || typeof a.chainId !== 'string' || !/^\d{1,78}$/.test(a.chainId)) throw new Error(`anchors[${i}].chainId must be a decimal string`);
    if (typeof a.contract !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(a.contract)) throw new Error(`anchors[${i}].contract must be a 0x address`);
    const fromSeq = a.fromSeq ?? '0';
    if (typeof fromSeq !== 'string' || !/^\d{1,19}$/.test(fromSeq)) throw new Error(`anchors[${i}].fromSeq must be a decimal string`);
    const block = a.deploymentBlock ?? null;
    if (block !== null && (!Number.isSafeInteger(block) || block < 0)) throw new Error(`anchors[${i}].deploymentBlock must be a block number`);
    return { chainId: a.chainId, contract: getAddress(a.contract), fromSeq, deploymentBlock: block };
  });
  return { format: TRUST_FORMAT, anchors };
}

/** `--contract 0x… --chain-id N`: a trust file of one anchor. */
export function trustFromFlags(chainId: string, contract: string, fromSeq = '0', deploymentBlock: number | null = null): TrustFile {
  return parseTrustFile({ format: TRUST_FORMAT, anchors: [{ chainId, contract, fromSeq, deploymentBlock }] });
}

/** The pinned anchor that holds batch `seq` on `chainId`: the one with the greatest fromSeq ≤ seq. */
export function anchorFor(trust: TrustFile, chainId: bigint, seq: bigint): TrustAnchor | null {
  let best: TrustAnchor | null = null;
  for (const a of trust.anchors) {
    if (BigInt(a.chainId) !== chainId || BigInt(a.fromSeq) > seq) continue;
    if (!best || BigInt(a.fromSeq) > BigInt(best.fromSeq)) best = a;
  }
  return best;
}
