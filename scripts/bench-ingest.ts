/**
 * Ingestion, sealing and proof-read throughput, printed as figures (not a test).
 * Usage: npm run bench:ingest [-- --events 20000 --per-call 500 --shipments 200 --batch 1000]
 * Runs on PGlite in memory, or on DATABASE_URL (in a throw-away schema), with the embedded chain.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { Wallet, hexlify } from 'ethers';
import { loadConfig } from '../src/config/config';
import { sealAndAnchor, startLedger } from '../src/bootstrap';
import { ZERO_HASH, custodyEventDigest, type CustodyEventFields } from '../src/signing/custody-signing';
import { SealerService } from '../src/batching/sealer.service';
import { sqlRows } from '../src/database/data-source';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** CPU time of every postgres process on this machine (from /proc) and the WAL position; null on PGlite or without /proc. */
async function postgresUsage(): Promise<{ cpuMs: number; walBytes: number } | null> {
  if (!process.env.DATABASE_URL || !existsSync('/proc')) return null;
  const tick = 10; // ms per clock tick (USER_HZ = 100 on Linux)
  let cpuMs = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpuMs += (Number(fields[11]) + Number(fields[12])) * tick;
    } catch {
      // the process ended meanwhile
    }
  }
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  const { rows } = await client.query<{ lsn: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS lsn`);
  await client.end();
  return { cpuMs, walBytes: Number(rows[0].lsn) };
}

async function main(): Promise<void> {
  const total = arg('events', 20_000);
  const perCall = arg('per-call', 500);
  const shipments = arg('shipments', 200);
  const adminKey = 'bench-admin-key-0123456789abcdef0123456789';
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custody-bench-'));
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = { PORT: '0', EMBEDDED_CHAIN_PORT: '0', DATA_DIR: dataDir, ADMIN_API_KEY: adminKey, LOG_LEVEL: 'error', BATCH_MAX_AGE_MS: '86400000', BATCH_MAX_EVENTS: '100000', MAX_EVENTS_PER_CALL: String(perCall), RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_EVENTS_PER_MINUTE: '10000000' };
  if (process.env.DATABASE_URL) Object.assign(env, { DATABASE_URL: process.env.DATABASE_URL, DATABASE_SCHEMA: schema });
  else env.PGLITE_IN_MEMORY = '1';
  const ledger = await startLedger(loadConfig(env));
  const gql = async (query: string, variables?: unknown) => {
    const res = await fetch(ledger.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data!;
  };
  try {
    const device = new Wallet(hexlify(randomBytes(32)));
    await gql(`mutation { registerOrganization(input: { slug: "bench-carrier", name: "Bench", kind: CARRIER }) { id } }`);
    await gql(`mutation($a: String!) { registerSigningKey(input: { organization: "bench-carrier", address: $a, validFrom: "2020-01-01T00:00:00Z" }) { address } }`, { a: device.address });
    for (let s = 0; s < shipments; s++) await gql(`mutation($n: String!) { createShipment(input: { trackingNumber: $n, carrier: "bench-carrier" }) { id } }`, { n: `BENCH${s.toString().padStart(6, '0')}` });

    const signStart = Date.now();
    const events = Array.from({ length: total }, (_, i) => {
      const fields: CustodyEventFields = {
        eventId: hexlify(randomBytes(32)),
        trackingNumber: `BENCH${(i % shipments).toString().padStart(6, '0')}`,
        carrier: 'bench-carrier',
        // each shipment starts with a pick-up (custody rules), then facility scans
        eventType: i < shipments ? 'PICKED_UP' : 'ARRIVED_AT_FACILITY',
        custodian: 'bench-carrier',
        occurredAt: BigInt(Date.now() - 3_600_000 + i),
        latE6: 52_520_008,
        lonE6: 13_404_954,
        accuracyM: 10,
        locationCode: 'DE-BER-HUB-1',
        scanMethod: 'BARCODE',
        evidenceHash: ZERO_HASH,
        dataHash: ZERO_HASH,
      };
      const signature = device.signingKey.sign(custodyEventDigest(ledger.runtime.domainSeparator, fields)).serialized;
      return { ...fields, occurredAt: fields.occurredAt.toString(), signature };
    });
    const signMs = Date.now() - signStart;

    const query = `mutation($e: [SignedCustodyEventInput!]!) { recordCustodyEvents(events: $e) { outcome } }`;
    const pgBefore = await postgresUsage();
    const appBefore = process.cpuUsage();
    const ingestStart = Date.now();
    const callMs: number[] = [];
    for (let i = 0; i < total; i += perCall) {
      const t0 = Date.now();
      const data = (await gql(query, { e: events.slice(i, i + perCall) })) as { recordCustodyEvents: Array<{ outcome: string }> };
      callMs.push(Date.now() - t0);
      const rejected = data.recordCustodyEvents.filter((r) => r.outcome !== 'ACCEPTED').length;
      if (rejected) throw new Error(`${rejected} events not accepted`);
    }
    const ingestMs = Date.now() - ingestStart;
    const appCpu = process.cpuUsage(appBefore);
    const pgAfter = await postgresUsage();

    const sealer = ledger.app.get(SealerService);
    // ingestion ran without the size trigger; now seal in production-sized batches
    ledger.runtime.config.batchMaxEvents = arg('batch', 1000);
    const sealStart = Date.now();
    let batches = 0;
    while (await sealer.sealNow(true)) batches++;
    const sealMs = Date.now() - sealStart;
    const anchorStart = Date.now();
    await sealAndAnchor(ledger);
    await sealAndAnchor(ledger);
    const anchorMs = Date.now() - anchorStart;

    const proofStart = Date.now();
    const samples = 200;
    for (let i = 0; i < samples; i++) await gql(`query($id: String!) { inclusionProof(eventId: $id) { root proof } }`, { id: events[(i * 7919) % total].eventId });
    const proofMs = Date.now() - proofStart;

    callMs.sort((a, b) => a - b);
    const rows: Array<[string, string]> = [
      ['database', process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite (in memory)'],
      ['events', `${total} over ${shipments} shipments, ${perCall} per call`],
      ['signing (client side, ethers)', `${(signMs / total).toFixed(2)} ms/event`],
      ['recordCustodyEvents', `${Math.round((total / ingestMs) * 1000)} events/s; per call p50 ${callMs[Math.floor(callMs.length / 2)]} ms, max ${callMs[callMs.length - 1]} ms`],
      ['sealing', `${batches} batches in ${sealMs} ms (${Math.round((total / sealMs) * 1000)} events/s incl. stored proofs)`],
      ['anchoring', `${batches} batches in ${anchorMs} ms`],
      ['inclusionProof over HTTP', `${(proofMs / samples).toFixed(1)} ms/query (${samples} queries)`],
      ['service CPU while ingesting', `${(((appCpu.user + appCpu.system) / 1000 / total) * 1000).toFixed(0)} ms per 1,000 events (this process: HTTP, GraphQL, signature checks)`],
    ];
    if (pgBefore && pgAfter) {
      rows.push(['PostgreSQL CPU while ingesting', `${(((pgAfter.cpuMs - pgBefore.cpuMs) / total) * 1000).toFixed(0)} ms per 1,000 events (all postgres processes on this machine)`]);
      rows.push(['WAL written while ingesting', `${Math.round((pgAfter.walBytes - pgBefore.walBytes) / total)} bytes per event (what a standby replays)`]);
      const [size] = await sqlRows<{ bytes: string }>(
        ledger.runtime.dataSource,
        `SELECT sum(pg_total_relation_size(c.oid))::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = current_schema() AND c.relkind = 'r' AND (c.relname LIKE 'custody_events%' OR c.relname LIKE 'merkle_proofs%' OR c.relname = 'custody_event_keys')`,
      );
      rows.push(['stored per event (tables + indexes)', `${Math.round(Number(size.bytes) / total)} bytes (custody_events, merkle_proofs, custody_event_keys, all partitions)`]);
    }
    for (const [k, v] of rows) console.log(`${k.padEnd(32)} ${v}`);
  } finally {
    await ledger.close();
    if (process.env.DATABASE_URL) {
      const client = new Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
