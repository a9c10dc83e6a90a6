import { LedgerError } from '../common/errors';
import type { CustodyEventFields } from '../signing/custody-signing';
import { EVENT_TYPE_NAMES, SCAN_METHODS } from './event-types';
import type { SignedCustodyEventInput } from './dto/signed-custody-event.input';
import { ZERO_HASH } from '../signing/custody-signing';
import { checkPersonalData, parseExtraData, type ExtraDataV1, type PersonalValue } from './extra-data';

export const SLUG_PATTERN = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/;
/** Tracking numbers as carriers issue them: letters, digits and - _ . / up to 64. */
export const TRACKING_NUMBER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{2,63}$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;

/**
 * One encoding per signature: lower-case hex with v = 27/28 (the recovery id 0/1 some signers
 * emit is the same signature). Stored, hashed into signaturesHash and returned in this form, so
 * any accepted encoding of an event's signatures is the same event (DUPLICATE, not a conflict).
 */
export function canonicalSignature(signature: string): string {
  const hex = signature.toLowerCase();
  const v = hex.slice(130, 132);
  return v === '00' || v === '01' ? hex.slice(0, 130) + (v === '00' ? '1b' : '1c') : hex;
}
const INT32_MIN = -2147483648;
const UINT32_MAX = 4294967295;
const MAX_LOCATION_CODE = 128;

export interface ParsedEvent {
  fields: CustodyEventFields;
  signature: string;
  counterSignature: string | null;
  evidence: { contentType: string; sizeBytes: number; hash: string } | null;
  extraData: { text: string; doc: ExtraDataV1 } | null;
  personalData: Array<PersonalValue & { commitment: string }>;
}

/** Checks one input at the edge; every problem names its field and what a valid value is. */
export function parseSignedEvent(input: SignedCustodyEventInput): ParsedEvent {
  const fail = (field: string, message: string): never => {
    throw new LedgerError('INVALID_FIELD', `${field}: ${message}`, field);
  };
  if (!BYTES32.test(input.eventId)) fail('eventId', 'must be 32 bytes as 0x-prefixed hex (64 hex digits)');
  if (!TRACKING_NUMBER_PATTERN.test(input.trackingNumber)) fail('trackingNumber', 'must be 3-64 characters: letters, digits, ".", "_", "/", "-"');
  if (!SLUG_PATTERN.test(input.carrier)) fail('carrier', 'must be an organization slug (lower-case letters, digits, "-")');
  if (!(EVENT_TYPE_NAMES as readonly string[]).includes(input.eventType)) fail('eventType', `must be one of ${EVENT_TYPE_NAMES.join(', ')}`);
  if (!SLUG_PATTERN.test(input.custodian)) fail('custodian', 'must be an organization slug (lower-case letters, digits, "-")');
  if (input.occurredAt <= 0n || input.occurredAt > BigInt(Number.MAX_SAFE_INTEGER)) fail('occurredAt', 'must be unix milliseconds');
  if (!Number.isInteger(input.latE6) || input.latE6 < -90_000_000 || input.latE6 > 90_000_000) fail('latE6', 'must be latitude × 1e6, from -90000000 to 90000000');
  if (!Number.isInteger(input.lonE6) || input.lonE6 < -180_000_000 || input.lonE6 > 180_000_000) fail('lonE6', 'must be longitude × 1e6, from -180000000 to 180000000');
  if (!Number.isInteger(input.accuracyM) || input.accuracyM < 0 || input.accuracyM > UINT32_MAX) fail('accuracyM', `must be a whole number of metres from 0 to ${UINT32_MAX}`);
  // control, zero-width and bidi-override characters would let a code display as another one
  if (input.locationCode.length > MAX_LOCATION_CODE || /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/.test(input.locationCode)) fail('locationCode', `must be at most ${MAX_LOCATION_CODE} printable characters (no control, zero-width or bidi characters)`);
  if (!(SCAN_METHODS as readonly string[]).includes(input.scanMethod)) fail('scanMethod', `must be one of ${SCAN_METHODS.join(', ')}`);
  if (!BYTES32.test(input.evidenceHash)) fail('evidenceHash', 'must be 32 bytes as 0x-prefixed hex (the zero hash when there is no evidence)');
  if (!BYTES32.test(input.dataHash)) fail('dataHash', 'must be 32 bytes as 0x-prefixed hex (the zero hash when there is no extra data)');
  if (!SIGNATURE.test(input.signature)) throw new LedgerError('INVALID_SIGNATURE', 'signature: must be 65 bytes (r ‖ s ‖ v) as 0x-prefixed hex (130 hex digits)', 'signature');
  const counter = input.counterSignature ?? null;
  if (counter !== null && !SIGNATURE.test(counter)) {
    throw new LedgerError('INVALID_COUNTER_SIGNATURE', 'counterSignature: must be 65 bytes (r ‖ s ‖ v) as 0x-prefixed hex, or omitted', 'counterSignature');
  }
  const dataHash = input.dataHash.toLowerCase();
  const evidenceHash = input.evidenceHash.toLowerCase();
  let evidence: ParsedEvent['evidence'] = null;
  if (input.evidence) {
    const { contentType, sizeBytes, hash } = input.evidence;
    if (!/^[a-z]+\/[a-z0-9.+-]{1,90}$/i.test(contentType)) fail('evidence.contentType', 'must be a MIME type such as image/jpeg');
    if (!Number.isInteger(sizeBytes) || sizeBytes < 0) fail('evidence.sizeBytes', 'must be a whole number of bytes');
    if (evidenceHash === ZERO_HASH || hash.toLowerCase() !== evidenceHash) {
      throw new LedgerError('EVIDENCE_MISMATCH', 'evidence.hash must equal the signed evidenceHash (and evidenceHash must not be zero when evidence is described)', 'evidence.hash');
    }
    evidence = { contentType: contentType.toLowerCase(), sizeBytes, hash: evidenceHash };
  }
  let extraData: ParsedEvent['extraData'] = null;
  if (input.extraData !== undefined && input.extraData !== null) {
    if (dataHash === ZERO_HASH) throw new LedgerError('DATA_HASH_MISMATCH', 'extraData was sent but the signed dataHash is zero', 'extraData');
    extraData = { text: input.extraData, doc: parseExtraData(input.extraData, dataHash) };
  }
  if ((input.personalData?.length ?? 0) > 10) fail('personalData', 'at most 10 values');
  const personalData = checkPersonalData(extraData?.doc ?? null, input.personalData ?? []);
  if (input.eventType === 'CORRECTION' && !extraData?.doc.corrects) {
    throw new LedgerError('INVALID_CORRECTION', 'a CORRECTION must carry extraData {"corrects": "<eventId>", "reason": "...", "v": 1} committed by dataHash', 'extraData');
  }
  if (input.eventType !== 'CORRECTION' && extraData?.doc.corrects) fail('extraData', '"corrects" is only for CORRECTION events');
  return {
    evidence,
    extraData,
    personalData,
    fields: {
      eventId: input.eventId.toLowerCase(),
      trackingNumber: input.trackingNumber,
      carrier: input.carrier,
      eventType: input.eventType,
      custodian: input.custodian,
      occurredAt: input.occurredAt,
      latE6: input.latE6,
      lonE6: input.lonE6,
      accuracyM: input.accuracyM,
      locationCode: input.locationCode,
      scanMethod: input.scanMethod,
      evidenceHash,
      dataHash,
    },
    signature: canonicalSignature(input.signature),
    counterSignature: counter === null ? null : canonicalSignature(counter),
  };
}
