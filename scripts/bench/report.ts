import { appendFileSync } from 'node:fs';

/**
 * One measured figure of a benchmark: what it is, the figure, the machine's limit measured in the
 * same run (when there is one) and the issue's goal. Printed as a line, and appended as JSON to
 * BENCH_REPORT_FILE when `npm run bench` runs the benchmarks, so it can print one table at the end.
 */
export interface Figure {
  /** the row of the performance table */
  row: string;
  /** e.g. 'PostgreSQL' or 'PGlite (in memory)'; '' where no database is involved */
  database: string;
  value: number;
  unit: string;
  /** the machine's limit measured in the same run, in the same unit */
  limit?: { value: number; what: string };
  /** the goal, and whether more is better */
  goal?: { value: number; higherIsBetter: boolean };
  note?: string;
}

const fmt = (n: number): string => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : Number(n.toPrecision(3)).toString());

export function describe(f: Figure): string {
  const parts = [`${fmt(f.value)} ${f.unit}`];
  if (f.limit && f.limit.value > 0) {
    const ratio = f.value / f.limit.value;
    parts.push(`limit ${fmt(f.limit.value)} (${f.limit.what}), ${ratio > 2 ? `${ratio.toFixed(1)}× it` : `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)}% of it`}`);
  }
  if (f.goal) {
    const met = f.goal.higherIsBetter ? f.value >= f.goal.value : f.value <= f.goal.value;
    parts.push(`goal ${f.goal.higherIsBetter ? '≥' : '≤'} ${fmt(f.goal.value)}: ${met ? 'met' : 'NOT met'}`);
  }
  if (f.note) parts.push(f.note);
  return parts.join('; ');
}

export function report(f: Figure): void {
  console.log(`${f.row.padEnd(44)} ${describe(f)}`);
  if (process.env.BENCH_REPORT_FILE) appendFileSync(process.env.BENCH_REPORT_FILE, JSON.stringify(f) + '\n');
}

/** A step that failed: reported, and the benchmark goes on with the next one. */
export function reportFailure(row: string, database: string, err: unknown): void {
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  console.log(`${row.padEnd(44)} FAILED: ${message}`);
  if (process.env.BENCH_REPORT_FILE) appendFileSync(process.env.BENCH_REPORT_FILE, JSON.stringify({ row, database, failed: message }) + '\n');
}

/** Runs one measuring step; a failure is reported and does not stop the others. */
export async function step(row: string, database: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    reportFailure(row, database, err);
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
