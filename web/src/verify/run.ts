import type { TrackingView } from '../../../src/proofs/tracking-view';
import type { VerificationCheck, VerificationReport } from './index';

/** The checks shown per event, in the order a verifier does them, with the words the page uses. */
export const EVENT_CHECKS: Array<{ checks: VerificationCheck[]; label: string }> = [
  { checks: ['DIGEST', 'SIGNATURE', 'COUNTER_SIGNATURE', 'DUAL_ATTESTATION', 'KEY_OWNERSHIP'], label: 'Signature' },
  { checks: ['SIGNATURES_HASH', 'EXTRA_DATA', 'EVIDENCE', 'CORRECTION', 'LEAF'], label: 'Leaf' },
  { checks: ['CHAIN'], label: 'Hash chain' },
  { checks: ['MERKLE_PROOF'], label: 'Merkle proof' },
  { checks: ['BATCH_ROOT', 'ANCHOR_TX', 'ANCHOR_TIME'], label: 'Root on chain' },
];

export interface EventResult {
  eventId: string;
  /** per EVENT_CHECKS label: 'ok', 'failed' (with messages) or 'pending' (not anchored yet) */
  checks: Array<{ label: string; state: 'ok' | 'failed' | 'pending'; messages: string[] }>;
}

export type BrowserVerification =
  | { kind: 'unreachable'; rpc: string | null; reason: string }
  | { kind: 'report'; report: VerificationReport; events: EventResult[]; general: VerificationReport['failures']; rpcHost: string };

const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

/** eth_chainId straight from the browser: can this visitor reach the chain at all, and is it the right one? */
async function probeChain(rpcUrl: string, chainId: string): Promise<string | null> {
  try {
    const res = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }), signal: AbortSignal.timeout(8_000) });
    if (!res.ok) return `it answered HTTP ${res.status}`;
    const body = (await res.json()) as { result?: string };
    if (!body.result) return 'it did not answer eth_chainId';
    if (BigInt(body.result).toString() !== chainId) return `it serves chain ${BigInt(body.result)}, not chain ${chainId}`;
    return null;
  } catch (err) {
    return (err as Error).name === 'TimeoutError' ? 'it did not answer within 8 s' : 'the browser could not connect to it (offline, blocked, or no CORS)';
  }
}

/**
 * Runs the service's own bundle verifier (src/proofs/bundle-verifier.ts, the same code as
 * `custody verify`) in this browser, against the chain's JSON-RPC straight from the browser, and
 * sorts its findings by event. The verifier is loaded only now: it is most of the page's code.
 */
export async function verifyInBrowser(view: TrackingView): Promise<BrowserVerification> {
  const { bundle, rpcUrl, trust } = view.verification;
  const chainId = trust.anchors[0]?.chainId ?? bundle?.signing.domain.chainId ?? '';
  if (!rpcUrl) return { kind: 'unreachable', rpc: null, reason: 'the ledger publishes no JSON-RPC endpoint a browser may use (PUBLIC_CHAIN_RPC_URL), so the roots cannot be read from the chain here; verify the downloaded bundle with `custody verify` against a node you trust' };
  const problem = await probeChain(rpcUrl, chainId);
  if (problem) return { kind: 'unreachable', rpc: hostOf(rpcUrl), reason: problem };
  const { verifyProofBundle } = await import('./index');
  const report = await verifyProofBundle(bundle, { rpcUrl, trust });
  const pending = new Set(report.pendingEventIds);
  const bundleEvents = (bundle?.events ?? []) as Array<{ eventId: string; batchSeq: string | null }>;
  const events = bundleEvents.map((e, index): EventResult => {
    const mine = report.failures.filter((f) => f.eventId === e.eventId || f.eventIndex === index || (f.eventId === null && f.eventIndex === null && f.batchSeq !== null && f.batchSeq === e.batchSeq));
    return {
      eventId: e.eventId,
      checks: EVENT_CHECKS.map(({ checks, label }) => {
        const failed = mine.filter((f) => checks.includes(f.check));
        const anchoredCheck = label === 'Merkle proof' || label === 'Root on chain';
        const state = failed.length ? 'failed' : anchoredCheck && pending.has(e.eventId) ? 'pending' : 'ok';
        return { label, state, messages: failed.map((f) => f.message) };
      }),
    };
  });
  const attributed = new Set(events.flatMap((e) => e.checks.flatMap((c) => c.messages)));
  const general = report.failures.filter((f) => !attributed.has(f.message));
  return { kind: 'report', report, events, general, rpcHost: hostOf(rpcUrl) };
}
