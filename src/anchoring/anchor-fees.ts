import type { FeeQuote } from './chain-client';

export const GWEI = 1_000_000_000n;

/** x × 1.125, rounded up: nodes refuse a replacement that does not raise both fees by at least 10% (geth) or 12.5% (some others). */
export const bumped = (x: bigint): bigint => (x * 9n + 7n) / 8n;

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** The first transaction's fees: what the node quotes, never above the ceiling. */
export function initialFees(quote: FeeQuote, ceilingWei: bigint): FeeQuote {
  const maxFeePerGas = min(quote.maxFeePerGas, ceilingWei);
  return { maxFeePerGas, maxPriorityFeePerGas: min(quote.maxPriorityFeePerGas, maxFeePerGas), legacy: quote.legacy };
}

/**
 * A replacement's fees: both at least 12.5% above the previous transaction's and at least what
 * the node quotes now, never above the ceiling. Null when the ceiling leaves no room for a
 * 12.5% raise (the node would refuse it as underpriced): the pending transaction is left as is.
 */
export function replacementFees(previous: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }, quote: FeeQuote, ceilingWei: bigint): FeeQuote | null {
  const floorMax = bumped(previous.maxFeePerGas);
  const floorPriority = bumped(previous.maxPriorityFeePerGas);
  const maxFeePerGas = min(max(floorMax, quote.maxFeePerGas), ceilingWei);
  const maxPriorityFeePerGas = min(max(floorPriority, quote.maxPriorityFeePerGas), maxFeePerGas);
  if (maxFeePerGas < floorMax || maxPriorityFeePerGas < floorPriority) return null;
  return { maxFeePerGas, maxPriorityFeePerGas, legacy: quote.legacy };
}
