/**
 * Signs one custody event the way a scanning device does, for trying the service out by hand.
 * Fetches the EIP-712 domain from the running service (`custodySigningSpec`), signs the
 * CustodyEvent of signing spec v1 with the key in DEVICE_PRIVATE_KEY, and prints one
 * SignedCustodyEventInput as JSON on stdout, ready to use as a `recordCustodyEvents` variable.
 * A one-line summary goes to stderr, so `EVENT=$(…)` captures the JSON only.
 *
 *   npx ts-node --transpile-only scripts/sign-event.ts --new-key
 *       prints a fresh device key as shell lines (eval them); register DEVICE_ADDRESS with registerSigningKey
 *   DEVICE_PRIVATE_KEY=0x… npx ts-node --transpile-only scripts/sign-event.ts \
 *       --tracking-number CL-0001 --carrier acme-express --event-type PICKED_UP --custodian acme-express
 *
 * Environment: GRAPHQL_URL (default http://127.0.0.1:4000/graphql), DEVICE_PRIVATE_KEY (required
 * to sign), COUNTER_PRIVATE_KEY (optional: the releasing party's key, adds a counterSignature).
 * The private keys are read, never printed (except the fresh one of --new-key).
 */
import { parseArgs } from 'node:util';
import { Wallet, hexlify, isHexString, randomBytes } from 'ethers';
import { CUSTODY_EVENT_TYPES, SIGNING_SPEC_VERSION, ZERO_HASH, type CustodyEventFields, type CustodyEventJson, type CustodySigningDomain } from '../src/signing/custody-signing';
import { EVENT_TYPE_NAMES, SCAN_METHODS } from '../src/custody/event-types';

const DEFAULT_GRAPHQL_URL = 'http://127.0.0.1:4000/graphql';
const REQUEST_TIMEOUT_MS = 10_000;

const USAGE = `usage:
  npx ts-node --transpile-only scripts/sign-event.ts --new-key
  DEVICE_PRIVATE_KEY=0x… npx ts-node --transpile-only scripts/sign-event.ts \\
      --tracking-number <number> --carrier <slug> --event-type <type> --custodian <slug> [options]

required:
  --tracking-number   as issued by the carrier (the shipment must exist)
  --carrier           slug of the carrier organization that issued the tracking number
  --event-type        ${EVENT_TYPE_NAMES.join(' | ')}
  --custodian         slug of the organization holding the parcel after this event
options:
  --occurred-at       unix milliseconds or an ISO-8601 time (default: now)
  --lat-e6, --lon-e6  latitude / longitude × 1e6 (default 0 = unknown)
  --accuracy-m        GPS accuracy in whole metres (default 0 = unknown)
  --location-code     facility, locker or GLN code (default "")
  --scan-method       ${SCAN_METHODS.join(' | ')} (default BARCODE)
  --evidence-hash     keccak256 of the evidence bundle, 0x + 64 hex (default: zero hash)
  --data-hash         keccak256 of the canonical JSON of extra data, 0x + 64 hex (default: zero hash)
  --event-id          0x + 64 hex (default: 32 random bytes)
environment:
  GRAPHQL_URL          the service (default ${DEFAULT_GRAPHQL_URL})
  DEVICE_PRIVATE_KEY   the device key that signs (required to sign)
  COUNTER_PRIVATE_KEY  optional: the releasing party's key, for a dual-attested handoff
`;

/** A problem the user fixes in the command line or the environment: printed without a stack. */
class UsageError extends Error {}

type SignedCustodyEventInput = CustodyEventJson & { signature: string; counterSignature?: string };

function walletFrom(variable: string, value: string | undefined): Wallet {
  const key = value?.trim();
  if (!key) throw new UsageError(`${variable} is not set: export the device's private key (make one with --new-key)`);
  try {
    return new Wallet(key.startsWith('0x') ? key : `0x${key}`);
  } catch {
    // never echo the value: it is a secret
    throw new UsageError(`${variable} is not a valid private key (expected 32 bytes as 64 hex digits, optionally 0x-prefixed)`);
  }
}

function integer(flag: string, raw: string | undefined, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`--${flag} must be a whole number (got "${raw}")`);
  const value = Number(raw);
  if (value < min || value > max) throw new UsageError(`--${flag} must be from ${min} to ${max} (got ${raw})`);
  return value;
}

function bytes32(flag: string, raw: string | undefined, fallback: () => string): string {
  if (raw === undefined) return fallback();
  if (!isHexString(raw, 32)) throw new UsageError(`--${flag} must be 32 bytes as 0x-prefixed hex (0x + 64 hex digits; got "${raw}")`);
  return raw.toLowerCase();
}

function oneOf(flag: string, raw: string, allowed: readonly string[]): string {
  if (allowed.includes(raw)) return raw;
  const hint = allowed.includes(raw.toUpperCase()) ? ` (did you mean ${raw.toUpperCase()}? the value is signed as given, so case matters)` : '';
  throw new UsageError(`--${flag} must be one of ${allowed.join(', ')} (got "${raw}")${hint}`);
}

function occurredAt(raw: string | undefined): bigint {
  if (raw === undefined) return BigInt(Date.now());
  if (/^\d+$/.test(raw)) return BigInt(raw);
  const ms = Date.parse(raw);
  if (Number.isNaN(ms) || ms <= 0) throw new UsageError(`--occurred-at must be unix milliseconds or an ISO-8601 time such as 2026-01-31T14:05:00Z (got "${raw}")`);
  return BigInt(ms);
}

function readArgs(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        'new-key': { type: 'boolean' },
        'tracking-number': { type: 'string' },
        carrier: { type: 'string' },
        'event-type': { type: 'string' },
        custodian: { type: 'string' },
        'occurred-at': { type: 'string' },
        'lat-e6': { type: 'string' },
        'lon-e6': { type: 'string' },
        'accuracy-m': { type: 'string' },
        'location-code': { type: 'string' },
        'scan-method': { type: 'string' },
        'evidence-hash': { type: 'string' },
        'data-hash': { type: 'string' },
        'event-id': { type: 'string' },
      },
    }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${USAGE}`);
  }
}

function eventFields(values: ReturnType<typeof readArgs>): CustodyEventFields {
  const missing = (['tracking-number', 'carrier', 'event-type', 'custodian'] as const).filter((flag) => !values[flag]);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((f) => `--${f}`).join(', ')}\n\n${USAGE}`);
  return {
    eventId: bytes32('event-id', values['event-id'], () => hexlify(randomBytes(32))),
    trackingNumber: values['tracking-number']!,
    carrier: values.carrier!,
    eventType: oneOf('event-type', values['event-type']!, EVENT_TYPE_NAMES),
    custodian: values.custodian!,
    occurredAt: occurredAt(values['occurred-at']),
    latE6: integer('lat-e6', values['lat-e6'], -90_000_000, 90_000_000, 0),
    lonE6: integer('lon-e6', values['lon-e6'], -180_000_000, 180_000_000, 0),
    accuracyM: integer('accuracy-m', values['accuracy-m'], 0, 4_294_967_295, 0),
    locationCode: values['location-code'] ?? '',
    scanMethod: oneOf('scan-method', values['scan-method'] ?? 'BARCODE', SCAN_METHODS),
    evidenceHash: bytes32('evidence-hash', values['evidence-hash'], () => ZERO_HASH),
    dataHash: bytes32('data-hash', values['data-hash'], () => ZERO_HASH),
  };
}

/** The signing domain exactly as the service publishes it: the anchor chain id and contract. */
async function fetchDomain(url: string): Promise<CustodySigningDomain> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ custodySigningSpec { version domain { name version chainId verifyingContract } } }' }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UsageError(`cannot reach the service at GRAPHQL_URL ${url} (${cause?.code ?? cause?.message ?? (err as Error).message}); is it running (\`npm start\`)?`);
  }
  const text = await response.text();
  let body: { data?: { custodySigningSpec?: { version: string; domain: { name: string; version: string; chainId: string; verifyingContract: string } } }; errors?: Array<{ message: string }> };
  try {
    body = JSON.parse(text);
  } catch {
    throw new UsageError(`GRAPHQL_URL ${url} answered HTTP ${response.status} with something that is not GraphQL JSON; is that the Custody Ledger /graphql endpoint?`);
  }
  const spec = body.data?.custodySigningSpec;
  if (!spec) throw new UsageError(`custodySigningSpec failed at ${url}: ${body.errors?.map((e) => e.message).join('; ') ?? `HTTP ${response.status}`}`);
  if (spec.version !== SIGNING_SPEC_VERSION) {
    throw new UsageError(`the service speaks signing spec ${spec.version}, this script signs ${SIGNING_SPEC_VERSION}; update the script`);
  }
  return { ...spec.domain, chainId: BigInt(spec.domain.chainId) };
}

async function main(argv: string[]): Promise<void> {
  const values = readArgs(argv);
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values['new-key']) {
    const wallet = Wallet.createRandom();
    process.stdout.write(
      `# A fresh device key. The private key stays on the device; register DEVICE_ADDRESS with registerSigningKey.\n` +
        `# To use it in this shell: eval "$(npx ts-node --transpile-only scripts/sign-event.ts --new-key)"\n` +
        `export DEVICE_PRIVATE_KEY=${wallet.privateKey}\n` +
        `export DEVICE_ADDRESS=${wallet.address}\n`,
    );
    return;
  }
  const fields = eventFields(values);
  const device = walletFrom('DEVICE_PRIVATE_KEY', process.env.DEVICE_PRIVATE_KEY);
  const counter = process.env.COUNTER_PRIVATE_KEY ? walletFrom('COUNTER_PRIVATE_KEY', process.env.COUNTER_PRIVATE_KEY) : null;
  if (counter && counter.address === device.address) throw new UsageError('COUNTER_PRIVATE_KEY must be the releasing party\'s key, not DEVICE_PRIVATE_KEY');
  const url = process.env.GRAPHQL_URL || DEFAULT_GRAPHQL_URL;
  const domain = await fetchDomain(url);

  // The device signs the struct itself with a stock EIP-712 implementation; the service recomputes the digest.
  const signature = await device.signTypedData(domain, CUSTODY_EVENT_TYPES, fields);
  const input: SignedCustodyEventInput = { ...fields, occurredAt: fields.occurredAt.toString(), signature };
  if (counter) input.counterSignature = await counter.signTypedData(domain, CUSTODY_EVENT_TYPES, fields);

  process.stdout.write(JSON.stringify(input, null, 2) + '\n');
  process.stderr.write(
    `signed ${fields.eventType} of ${fields.carrier}/${fields.trackingNumber} by ${device.address}` +
      `${counter ? `, counter-signed by ${counter.address}` : ''} (chain ${domain.chainId}, contract ${domain.verifyingContract})\n`,
  );
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(err instanceof UsageError ? `sign-event: ${err.message}\n` : `sign-event: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
