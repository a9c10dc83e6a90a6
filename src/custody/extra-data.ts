import { concat, keccak256, toUtf8Bytes } from 'ethers';
import { LedgerError } from '../common/errors';

/**
 * Extra data, format v1: a JSON document stored beside an event and committed by its signed
 * `dataHash` = keccak256(UTF-8 of the canonical JSON). Canonical = object keys sorted by code
 * point, no whitespace, JSON.stringify for strings and numbers. Personal data never appears in
 * it: only salted commitments, keccak256(salt ‖ UTF-8 value) with a 32-byte random salt. The
 * values and salts are kept apart and can be erased; the document, and every proof, stay valid.
 *
 *   { "v": 1,
 *     "sensors":   [{ "type": "temperature" | "humidity" | "shock", "value": 4.5, "unit": "CEL", "at": "1764000000000" }],
 *     "recipient": { "name": "0x<commitment>", "address": "0x<commitment>", ... },
 *     "corrects":  "0x<eventId>", "reason": "wrong parcel scanned",   (CORRECTION only)
 *     "note":      "free text without personal data" }
 */
export interface SensorReading {
  type: 'temperature' | 'humidity' | 'shock';
  value: number;
  unit: string;
  at?: string;
}

export interface ExtraDataV1 {
  v: 1;
  sensors?: SensorReading[];
  recipient?: Record<string, string>;
  corrects?: string;
  reason?: string;
  note?: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('numbers must be finite');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new Error(`unsupported JSON value ${typeof value}`);
}

export const dataHashOf = (document: string): string => keccak256(toUtf8Bytes(document));

/** keccak256(salt ‖ UTF-8 value): what a device puts in the document instead of the value. */
export const personalCommitment = (salt: string, value: string): string => keccak256(concat([salt, toUtf8Bytes(value)]));

const BYTES32 = /^0x[0-9a-f]{64}$/;
const SENSOR_TYPES = ['temperature', 'humidity', 'shock'];
const RECIPIENT_FIELDS = ['name', 'address', 'phone', 'email'];
export const MAX_EXTRA_DATA_BYTES = 16_384;

export function parseExtraData(text: string, dataHash: string): ExtraDataV1 {
  const invalid = (why: string): never => {
    throw new LedgerError('INVALID_EXTRA_DATA', `extraData: ${why}`, 'extraData');
  };
  if (text.length > MAX_EXTRA_DATA_BYTES) invalid(`at most ${MAX_EXTRA_DATA_BYTES} characters`);
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch {
    return invalid('is not JSON');
  }
  let canonical: string;
  try {
    canonical = canonicalJson(parsed);
  } catch (err) {
    return invalid((err as Error).message);
  }
  if (canonical !== text) throw new LedgerError('DATA_HASH_MISMATCH', 'extraData must be canonical JSON (keys sorted, no whitespace) so that its keccak256 is reproducible', 'extraData');
  if (dataHashOf(text) !== dataHash) throw new LedgerError('DATA_HASH_MISMATCH', `keccak256(extraData) is ${dataHashOf(text)}, but the signed dataHash is ${dataHash}`, 'extraData');
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return invalid('must be a JSON object');
  if (/\\u0000|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i.test(canonical)) invalid('contains a NUL character or an unpaired surrogate');
  const doc = parsed as Record<string, Json>;
  if (doc.v !== 1) invalid('"v" must be 1 (extra-data format v1)');
  for (const key of Object.keys(doc)) if (!['v', 'sensors', 'recipient', 'corrects', 'reason', 'note'].includes(key)) invalid(`unknown key "${key}"`);
  if (doc.sensors !== undefined) {
    if (!Array.isArray(doc.sensors) || doc.sensors.length > 100) invalid('"sensors" must be an array of at most 100 readings');
    for (const r of doc.sensors as Json[]) {
      const reading = r as Record<string, Json>;
      if (typeof r !== 'object' || r === null || !SENSOR_TYPES.includes(reading.type as string)) invalid(`each sensor reading needs "type": ${SENSOR_TYPES.join(' | ')}`);
      if (typeof reading.value !== 'number' || typeof reading.unit !== 'string' || reading.unit.length > 16) invalid('each sensor reading needs a numeric "value" and a "unit" (UN/CEFACT code, e.g. CEL)');
      if (reading.at !== undefined && !(typeof reading.at === 'string' && /^\d{1,16}$/.test(reading.at))) invalid('"at" must be unix milliseconds as a decimal string');
      for (const key of Object.keys(reading)) if (!['type', 'value', 'unit', 'at'].includes(key)) invalid(`unknown sensor key "${key}"`);
    }
  }
  if (doc.recipient !== undefined) {
    if (typeof doc.recipient !== 'object' || doc.recipient === null || Array.isArray(doc.recipient)) invalid('"recipient" must be an object of commitments');
    for (const [k, v] of Object.entries(doc.recipient as Record<string, Json>)) {
      if (!RECIPIENT_FIELDS.includes(k)) invalid(`recipient.${k}: only ${RECIPIENT_FIELDS.join(', ')}`);
      if (typeof v !== 'string' || !BYTES32.test(v)) invalid(`recipient.${k} must be a salted commitment (0x + 64 lower-case hex), never the value itself`);
    }
  }
  if (doc.corrects !== undefined && (typeof doc.corrects !== 'string' || !BYTES32.test(doc.corrects))) invalid('"corrects" must be the eventId being corrected (0x + 64 lower-case hex)');
  if (doc.reason !== undefined && (typeof doc.reason !== 'string' || doc.reason.length < 1 || doc.reason.length > 500)) invalid('"reason" must be 1-500 characters');
  if ((doc.corrects === undefined) !== (doc.reason === undefined)) invalid('"corrects" and "reason" go together');
  if (doc.note !== undefined && (typeof doc.note !== 'string' || doc.note.length > 500)) invalid('"note" must be at most 500 characters');
  return doc as unknown as ExtraDataV1;
}

export interface PersonalValue {
  path: string;
  value: string;
  salt: string;
}

/** Each value must open the commitment at its path in the document. */
export function checkPersonalData(doc: ExtraDataV1 | null, values: readonly PersonalValue[]): Array<PersonalValue & { commitment: string }> {
  return values.map(({ path, value, salt }) => {
    const field = /^recipient\.(\w+)$/.exec(path)?.[1];
    const commitment = field ? doc?.recipient?.[field] : undefined;
    if (!commitment) throw new LedgerError('PERSONAL_DATA_MISMATCH', `personalData ${path}: extraData holds no commitment at this path`, 'personalData');
    if (!BYTES32.test(salt.toLowerCase())) throw new LedgerError('PERSONAL_DATA_MISMATCH', `personalData ${path}: salt must be 32 bytes of 0x-hex`, 'personalData');
    if (value.length < 1 || value.length > 1000) throw new LedgerError('PERSONAL_DATA_MISMATCH', `personalData ${path}: value must be 1-1000 characters`, 'personalData');
    if (personalCommitment(salt.toLowerCase(), value) !== commitment) {
      throw new LedgerError('PERSONAL_DATA_MISMATCH', `personalData ${path}: keccak256(salt ‖ value) does not equal the commitment in extraData`, 'personalData');
    }
    return { path, value, salt: salt.toLowerCase(), commitment };
  });
}
