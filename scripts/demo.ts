/**
 * A parcel's journey against a running Custody Ledger, end to end, as its users see it:
 * registers a carrier, a merchant and a hub with device keys, creates a shipment, records six
 * signed custody events, seals them into a batch, waits until the batch is FINAL on chain, and
 * then checks every event's inclusion proof without trusting the service: the EIP-712 digest
 * and signer from the signed fields, the proof with OpenZeppelin's StandardMerkleTree, and the
 * root with the contract's verifyInclusion and batchRoot over the chain's own JSON-RPC.
 * Slugs and the tracking number get a fresh suffix, so it can run any number of times.
 *
 *   npm run demo
 *
 * Environment: GRAPHQL_URL (default http://127.0.0.1:4000/graphql), ADMIN_API_KEY (default: the
 * key in $DATA_DIR/admin-api-key, DATA_DIR defaulting to ./data, as `npm start` keeps it),
 * CHAIN_RPC_URL (default http://127.0.0.1:8545), DEMO_TIMEOUT_MS (default 120000: how long to
 * wait for the batch to become FINAL).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { Contract, JsonRpcProvider, TypedDataEncoder, Wallet, concat, hexlify, keccak256, randomBytes, recoverAddress, type TypedDataDomain } from 'ethers';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { CUSTODY_EVENT_TYPES, SIGNING_SPEC_VERSION, ZERO_HASH, type CustodyEventFields, type CustodySigningDomain } from '../src/signing/custody-signing';

const GRAPHQL_URL = process.env.GRAPHQL_URL || 'http://127.0.0.1:4000/graphql';
const CHAIN_RPC_URL = process.env.CHAIN_RPC_URL || 'http://127.0.0.1:8545';
const TIMEOUT_MS = Number(process.env.DEMO_TIMEOUT_MS || 120_000);
const LEAF_ENCODING = ['bytes32', 'bytes32', 'bytes32'];
/** The three contract functions a verifier needs; nothing of this repository is required to call them. */
const ANCHOR_ABI = [
  'function custodyLeaf(bytes32 digest, bytes32 sigHash, bytes32 prevLeaf) pure returns (bytes32)',
  'function verifyInclusion(uint64 seq, bytes32 leaf, bytes32[] proof) view returns (bool)',
  'function batchRoot(uint64 seq) view returns (bytes32)',
];

class DemoError extends Error {}

interface GraphQLResponse<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

interface SignedEvent extends Omit<CustodyEventFields, 'occurredAt'> {
  occurredAt: string;
  signature: string;
  counterSignature: string | null;
}

interface RecordResult {
  index: number;
  eventId: string | null;
  outcome: 'ACCEPTED' | 'DUPLICATE' | 'REJECTED';
  receipt: { digest: string; leaf: string; previousLeaf: string; status: string } | null;
  error: { code: string; message: string; field: string | null } | null;
}

interface InclusionProof {
  eventId: string;
  status: string;
  digest: string;
  signaturesHash: string;
  previousLeaf: string;
  leaf: string;
  proof: string[] | null;
  leafIndex: number | null;
  batchSeq: string | null;
  root: string | null;
  chainId: string | null;
  contractAddress: string | null;
  txHash: string | null;
  blockNumber: number | null;
}

interface Batch {
  seq: string;
  root: string;
  leafCount: number;
  status: string;
  txHash: string | null;
  blockNumber: number | null;
  lastError: string | null;
}

function adminKey(): string {
  if (process.env.ADMIN_API_KEY) return process.env.ADMIN_API_KEY;
  const file = path.resolve(process.env.DATA_DIR ?? './data', 'admin-api-key');
  if (!existsSync(file)) {
    throw new DemoError(`ADMIN_API_KEY is not set and ${file} does not exist: set ADMIN_API_KEY to the key \`npm start\` printed (or DATA_DIR to the service's data directory)`);
  }
  return readFileSync(file, 'utf8').trim();
}

let adminApiKey: string | undefined;

async function gql<T>(query: string, variables?: Record<string, unknown>, what = 'request'): Promise<T> {
  adminApiKey ??= adminKey();
  let response: Response;
  try {
    response = await fetch(GRAPHQL_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminApiKey}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new DemoError(`cannot reach the service at GRAPHQL_URL ${GRAPHQL_URL} (${cause?.code ?? (err as Error).message}); start it with \`npm start\``);
  }
  const body = (await response.json()) as GraphQLResponse<T>;
  if (body.errors?.length) {
    throw new DemoError(`${what} failed: ${body.errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; ')}`);
  }
  return body.data!;
}

const short = (hex: string | null | undefined): string => (hex ? `${hex.slice(0, 10)}…${hex.slice(-4)}` : '-');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line = ''): void => void process.stdout.write(line + '\n');
const step = (title: string): void => say(`\n== ${title}`);

async function main(): Promise<void> {
  const suffix = `${Date.now().toString(36)}-${nodeRandomBytes(2).toString('hex')}`;
  const slugs = { carrier: `demo-carrier-${suffix}`, merchant: `demo-shop-${suffix}`, hub: `demo-hub-${suffix}` };
  const trackingNumber = `DEMO-${suffix.toUpperCase()}`;

  say(`Custody Ledger demo against ${GRAPHQL_URL} (chain JSON-RPC ${CHAIN_RPC_URL})`);

  step('1. signing spec');
  const { custodySigningSpec: spec } = await gql<{ custodySigningSpec: { version: string; domain: { name: string; version: string; chainId: string; verifyingContract: string } } }>(
    `{ custodySigningSpec { version domain { name version chainId verifyingContract } } }`,
    undefined,
    'custodySigningSpec',
  );
  if (spec.version !== SIGNING_SPEC_VERSION) throw new DemoError(`the service speaks ${spec.version}; this demo signs ${SIGNING_SPEC_VERSION}`);
  const domain: CustodySigningDomain = { ...spec.domain, chainId: BigInt(spec.domain.chainId) };
  say(`   ${spec.version}: EIP-712 domain "${domain.name}" v${domain.version}, chain ${domain.chainId}, contract ${domain.verifyingContract}`);

  step('2. organizations and device keys');
  const register = `mutation($i: RegisterOrganizationInput!) { registerOrganization(input: $i) { slug kind } }`;
  await gql(register, { i: { slug: slugs.carrier, name: 'Demo Express', kind: 'CARRIER' } }, 'registerOrganization');
  await gql(register, { i: { slug: slugs.merchant, name: 'Demo Shop', kind: 'MERCHANT' } }, 'registerOrganization');
  await gql(register, { i: { slug: slugs.hub, name: 'Demo Hub Berlin', kind: 'HUB' } }, 'registerOrganization');
  const devices = {
    merchant: { org: slugs.merchant, label: 'packing station 1', wallet: new Wallet(Wallet.createRandom().privateKey) },
    carrier: { org: slugs.carrier, label: 'pickup van scanner', wallet: new Wallet(Wallet.createRandom().privateKey) },
    hub: { org: slugs.hub, label: 'hub dock RFID gate', wallet: new Wallet(Wallet.createRandom().privateKey) },
    driver: { org: slugs.carrier, label: 'delivery driver handheld', wallet: new Wallet(Wallet.createRandom().privateKey) },
  };
  // The journey below happened over the last hours; a key only signs for events after its validFrom.
  const validFrom = new Date(Date.now() - 24 * 3_600_000).toISOString();
  for (const device of Object.values(devices)) {
    await gql(
      `mutation($i: RegisterSigningKeyInput!) { registerSigningKey(input: $i) { address } }`,
      { i: { organization: device.org, address: device.wallet.address, label: device.label, validFrom } },
      'registerSigningKey',
    );
  }
  const width = Math.max(...Object.values(slugs).map((s) => s.length));
  for (const [kind, slug] of [['CARRIER', slugs.carrier], ['MERCHANT', slugs.merchant], ['HUB', slugs.hub]]) {
    const keys = Object.values(devices).filter((d) => d.org === slug).map((d) => `${d.wallet.address} (${d.label})`);
    say(`   ${kind.padEnd(8)} ${slug.padEnd(width)}  ${keys.join(', ')}`);
  }

  step('3. shipment');
  await gql(
    `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { trackingNumber status } }`,
    { i: { trackingNumber, carrier: slugs.carrier, merchant: slugs.merchant, destination: { latE6: 52_500_000, lonE6: 13_400_000, radiusM: 200 } } },
    'createShipment',
  );
  say(`   ${trackingNumber} issued by ${slugs.carrier}, shipped by ${slugs.merchant}, to 52.500000, 13.400000 (±200 m)`);

  step('4. six signed custody events');
  const t0 = Date.now() - 6 * 3_600_000;
  const at = (hours: number): bigint => BigInt(Math.round(t0 + hours * 3_600_000));
  const base = { trackingNumber, carrier: slugs.carrier };
  const journey: Array<{ who: keyof typeof devices; counter?: keyof typeof devices; fields: CustodyEventFields }> = [
    { who: 'merchant', fields: fields({ ...base, eventType: 'LABEL_CREATED', custodian: slugs.merchant, occurredAt: at(0), scanMethod: 'MANUAL', locationCode: 'SHOP-WAREHOUSE-1' }) },
    { who: 'carrier', counter: 'merchant', fields: fields({ ...base, eventType: 'PICKED_UP', custodian: slugs.carrier, occurredAt: at(1), latE6: 52_531_200, lonE6: 13_384_900, accuracyM: 12 }) },
    { who: 'hub', counter: 'carrier', fields: fields({ ...base, eventType: 'HANDOFF', custodian: slugs.hub, occurredAt: at(2.5), locationCode: 'DE-BER-HUB-1', scanMethod: 'RFID' }) },
    { who: 'driver', counter: 'hub', fields: fields({ ...base, eventType: 'HANDOFF', custodian: slugs.carrier, occurredAt: at(3.5), locationCode: 'DE-BER-HUB-1', scanMethod: 'RFID' }) },
    { who: 'driver', fields: fields({ ...base, eventType: 'OUT_FOR_DELIVERY', custodian: slugs.carrier, occurredAt: at(4), locationCode: 'DE-BER-HUB-1' }) },
    {
      who: 'driver',
      fields: fields({ ...base, eventType: 'DELIVERED', custodian: slugs.carrier, occurredAt: at(5.5), latE6: 52_500_100, lonE6: 13_400_050, accuracyM: 6, scanMethod: 'GPS', evidenceHash: keccak256(Buffer.from('photo of the parcel at the door')) }),
    },
  ];
  const signed: SignedEvent[] = [];
  for (const { who, counter, fields: f } of journey) {
    const signature = await devices[who].wallet.signTypedData(domain, CUSTODY_EVENT_TYPES, f);
    const counterSignature = counter ? await devices[counter].wallet.signTypedData(domain, CUSTODY_EVENT_TYPES, f) : null;
    signed.push({ ...f, occurredAt: f.occurredAt.toString(), signature, counterSignature });
  }
  const { recordCustodyEvents: results } = await gql<{ recordCustodyEvents: RecordResult[] }>(
    `mutation($events: [SignedCustodyEventInput!]!) {
       recordCustodyEvents(events: $events) { index eventId outcome receipt { digest leaf previousLeaf status } error { code message field } }
     }`,
    { events: signed },
    'recordCustodyEvents',
  );
  for (const r of results) {
    const j = journey[r.index];
    const by = `${j.who}${j.counter ? ` + counter-signed by ${j.counter}` : ''}`;
    say(`   #${r.index} ${j.fields.eventType.padEnd(17)} signed by ${by.padEnd(38)} ${r.outcome}${r.receipt ? `  leaf ${short(r.receipt.leaf)} ← prev ${short(r.receipt.previousLeaf)}` : `  ${r.error?.code}: ${r.error?.message}`}`);
  }
  if (results.some((r) => r.outcome !== 'ACCEPTED')) throw new DemoError('not every event was accepted (see above)');
  const chained = results.every((r, i) => r.receipt!.previousLeaf === (i === 0 ? ZERO_HASH : results[i - 1].receipt!.leaf));
  say(`   hash chain: every previousLeaf is the leaf before it ${chained ? '✓' : '✗'}`);

  const { shipment } = await gql<{ shipment: { status: string; eventCount: number; currentCustodian: { slug: string } | null } }>(
    `query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) { status eventCount currentCustodian { slug } } }`,
    { n: trackingNumber, c: slugs.carrier },
    'shipment',
  );
  say(`   shipment now ${shipment.status}, ${shipment.eventCount} events, held by ${shipment.currentCustodian?.slug ?? '-'}`);

  step('5. seal');
  const { sealBatch } = await gql<{ sealBatch: Batch | null }>(`mutation { sealBatch { seq root leafCount status } }`, undefined, 'sealBatch');
  say(sealBatch ? `   sealed batch ${sealBatch.seq}: ${sealBatch.leafCount} leaves, root ${sealBatch.root}` : '   nothing pending: the sealer had sealed these events already (age or size trigger)');
  // Which batch holds each event: from the stored proofs (other clients' events may share the batch).
  const proofQuery = `query($id: String!) { inclusionProof(eventId: $id) { eventId status digest signaturesHash previousLeaf leaf proof leafIndex batchSeq root chainId contractAddress txHash blockNumber } }`;
  const proofOf = async (eventId: string): Promise<InclusionProof> => (await gql<{ inclusionProof: InclusionProof }>(proofQuery, { id: eventId }, 'inclusionProof')).inclusionProof;
  const seqs = new Set<string>();
  for (const event of signed) {
    const p = await proofOf(event.eventId);
    if (p.batchSeq === null) throw new DemoError(`event ${event.eventId} is still ${p.status} after sealBatch`);
    seqs.add(p.batchSeq);
  }

  step(`6. anchor: waiting for batch ${[...seqs].join(', ')} to be FINAL`);
  const deadline = Date.now() + TIMEOUT_MS;
  const batches = new Map<string, Batch>();
  for (const seq of seqs) {
    let last = '';
    for (;;) {
      const { batch } = await gql<{ batch: Batch }>(`query($s: Uint64!) { batch(seq: $s) { seq root leafCount status txHash blockNumber lastError } }`, { s: seq }, 'batch');
      if (batch.status !== last) {
        say(`   batch ${seq}: ${batch.status}${batch.txHash ? `  tx ${short(batch.txHash)}` : ''}${batch.blockNumber !== null ? ` in block ${batch.blockNumber}` : ''}${batch.lastError ? `  (last error: ${batch.lastError})` : ''}`);
        last = batch.status;
      }
      if (batch.status === 'FINAL') {
        batches.set(seq, batch);
        break;
      }
      if (Date.now() > deadline) {
        throw new DemoError(
          `batch ${seq} is still ${batch.status} after ${TIMEOUT_MS} ms. The anchorer waits until the anchoring block is CONFIRMATIONS deep; ` +
            `a local node that mines only on demand needs more blocks (start the service with CONFIRMATIONS=1, or mine: ` +
            `curl -s ${CHAIN_RPC_URL} -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"hardhat_mine","params":["0x2"]}'). See the service log.`,
        );
      }
      await sleep(500);
    }
  }

  step('7. verify every event without trusting the service');
  const provider = new JsonRpcProvider(CHAIN_RPC_URL, undefined, { staticNetwork: true });
  let failures = 0;
  const check = (ok: boolean): string => {
    if (!ok) failures++;
    return ok ? '✓' : '✗';
  };
  try {
    let rpcChainId: bigint;
    try {
      rpcChainId = BigInt((await provider.send('eth_chainId', [])) as string);
    } catch (err) {
      throw new DemoError(`cannot reach the chain at CHAIN_RPC_URL ${CHAIN_RPC_URL}: ${(err as Error).message.split(' (')[0]}`);
    }
    const contracts = new Map<string, Contract>();
    say('   per event: signed fields → EIP-712 digest, signer, counter-signer | StandardMerkleTree.verify | custodyLeaf + verifyInclusion on chain | batchRoot on chain = proof root');
    for (const [i, event] of signed.entries()) {
      const p = await proofOf(event.eventId);
      if (!p.proof || !p.root || p.batchSeq === null || !p.contractAddress || !p.chainId) throw new DemoError(`event ${event.eventId} has no anchored proof (${p.status})`);
      // 1. The leaf commits to the signed fields: recompute the digest from them and recover the signer.
      const fieldsOf = { ...event, occurredAt: BigInt(event.occurredAt) };
      const digest = TypedDataEncoder.hash(domain as TypedDataDomain, CUSTODY_EVENT_TYPES, fieldsOf);
      const signer = recoverAddress(digest, event.signature);
      const sigHash = keccak256(concat([event.signature, event.counterSignature ?? '0x']));
      const counter = journey[i].counter;
      const counterOk = counter ? recoverAddress(digest, event.counterSignature!) === devices[counter].wallet.address : event.counterSignature === null;
      const signedOk = digest === p.digest && signer === devices[journey[i].who].wallet.address && counterOk && sigHash === p.signaturesHash;
      // 2. Off chain, OpenZeppelin's implementation, from the values (never from the given leaf).
      const offChain = StandardMerkleTree.verify(p.root, LEAF_ENCODING, [p.digest, p.signaturesHash, p.previousLeaf], p.proof);
      // 3. On chain: the contract derives the leaf and folds the proof up to the anchored root.
      if (BigInt(p.chainId) !== rpcChainId) throw new DemoError(`the proof names chain ${p.chainId} but CHAIN_RPC_URL serves chain ${rpcChainId}`);
      let anchor = contracts.get(p.contractAddress);
      if (!anchor) contracts.set(p.contractAddress, (anchor = new Contract(p.contractAddress, ANCHOR_ABI, provider)));
      const leaf = (await anchor.getFunction('custodyLeaf')(p.digest, p.signaturesHash, p.previousLeaf)) as string;
      const onChain = leaf === p.leaf && ((await anchor.getFunction('verifyInclusion')(BigInt(p.batchSeq), leaf, p.proof)) as boolean);
      const root = (await anchor.getFunction('batchRoot')(BigInt(p.batchSeq))) as string;
      const rootOk = root.toLowerCase() === p.root.toLowerCase();
      say(
        `   #${i} ${event.eventType.padEnd(17)} ${p.status}  batch ${p.batchSeq} leaf #${p.leafIndex}, proof of ${p.proof.length}  ` +
          `signed ${check(signedOk)}  merkle ${check(offChain)}  verifyInclusion ${check(onChain)}  batchRoot ${check(rootOk)}`,
      );
    }

    // The same check for an event altered by one millisecond after the fact must fail.
    const first = await proofOf(signed[0].eventId);
    const tampered = { ...signed[0], occurredAt: BigInt(signed[0].occurredAt) + 1n };
    const tamperedDigest = TypedDataEncoder.hash(domain as TypedDataDomain, CUSTODY_EVENT_TYPES, tampered);
    const anchor = contracts.get(first.contractAddress!)!;
    const tamperedLeaf = (await anchor.getFunction('custodyLeaf')(tamperedDigest, first.signaturesHash, first.previousLeaf)) as string;
    const rejected = !((await anchor.getFunction('verifyInclusion')(BigInt(first.batchSeq!), tamperedLeaf, first.proof!)) as boolean);
    say(`   #0 with occurredAt changed by 1 ms: verifyInclusion returns false ${check(rejected)}`);

    step('report');
    for (const [seq, b] of batches) {
      say(`   batch ${seq}: ${b.leafCount} leaves, root ${b.root}`);
      say(`            anchored on chain ${rpcChainId} by contract ${first.contractAddress} in block ${b.blockNumber}, tx ${b.txHash}`);
    }
    say(`   shipment ${trackingNumber} (${slugs.carrier}): ${shipment.status}, ${signed.length} events, hash-chained ${check(chained)}`);
    say(failures === 0 ? '   every check passed ✓' : `   ${failures} check(s) FAILED ✗`);
    say(`   fetch a proof yourself: { inclusionProof(eventId: "${signed[signed.length - 1].eventId}") { leaf proof root batchSeq contractAddress } }`);
  } finally {
    provider.destroy();
  }
  if (failures > 0) process.exitCode = 1;
}

function fields(f: Partial<CustodyEventFields> & Pick<CustodyEventFields, 'trackingNumber' | 'carrier' | 'eventType' | 'custodian' | 'occurredAt'>): CustodyEventFields {
  return {
    eventId: hexlify(randomBytes(32)),
    latE6: 52_520_008,
    lonE6: 13_404_954,
    accuracyM: 10,
    locationCode: '',
    scanMethod: 'BARCODE',
    evidenceHash: ZERO_HASH,
    dataHash: ZERO_HASH,
    ...f,
  };
}

main().catch((err: unknown) => {
  process.stderr.write(err instanceof DemoError ? `\ndemo: ${err.message}\n` : `\ndemo: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
