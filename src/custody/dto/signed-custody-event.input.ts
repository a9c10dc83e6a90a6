import { Field, Float, InputType, Int } from '@nestjs/graphql';
import { Uint64Scalar } from '../../common/scalars';

@InputType({ description: 'What the evidence behind evidenceHash is (the file itself stays with the carrier).' })
export class EvidenceInput {
  @Field({ description: 'MIME type, e.g. image/jpeg or application/json' }) contentType: string;
  @Field(() => Int, { description: 'size in bytes' }) sizeBytes: number;
  @Field({ description: 'must equal the signed evidenceHash' }) hash: string;
}

@InputType({ description: 'A personal value whose salted commitment is in extraData; kept apart so it can be erased.' })
export class PersonalDataInput {
  @Field({ description: 'where its commitment is in extraData, e.g. recipient.name' }) path: string;
  @Field() value: string;
  @Field({ description: '32 random bytes, 0x-hex; commitment = keccak256(salt ‖ UTF-8 value)' }) salt: string;
}

@InputType({ description: 'One signed custody event: the fields of the EIP-712 CustodyEvent (signing spec v1), verbatim, plus the signature(s).' })
export class SignedCustodyEventInput {
  @Field({ description: '32 random bytes chosen by the device, 0x-hex; unique forever (replay guard)' })
  eventId: string;

  @Field()
  trackingNumber: string;

  @Field({ description: 'slug of the carrier organization that issued the tracking number' })
  carrier: string;

  @Field({ description: 'one of the event types (see the README event table)' })
  eventType: string;

  @Field({ description: 'slug of the organization holding the parcel after this event' })
  custodian: string;

  @Field(() => Uint64Scalar, { description: 'unix milliseconds on the device clock, as a decimal string' })
  occurredAt: bigint;

  @Field(() => Int, { description: 'latitude × 1e6; 0 with accuracyM 0 when unknown' })
  latE6: number;

  @Field(() => Int, { description: 'longitude × 1e6' })
  lonE6: number;

  @Field(() => Float, { description: 'GPS accuracy in metres, an integer from 0 to 4294967295 (uint32)' })
  accuracyM: number;

  @Field({ description: 'facility, locker or GLN code; "" if none' })
  locationCode: string;

  @Field({ description: 'BARCODE | RFID | NFC | GPS | MANUAL | OCR' })
  scanMethod: string;

  @Field({ description: 'keccak256 of the evidence bundle, 0x-hex; zero hash if none' })
  evidenceHash: string;

  @Field({ description: 'keccak256 of the canonical JSON of extra data, 0x-hex; zero hash if none' })
  dataHash: string;

  @Field({ description: '65-byte secp256k1 signature (r ‖ s ‖ v) over the EIP-712 digest, 0x-hex, low-s' })
  signature: string;

  @Field(() => String, { nullable: true, description: "the releasing party's signature over the same digest (dual-attested handoff)" })
  counterSignature?: string | null;

  @Field(() => EvidenceInput, { nullable: true, description: 'metadata of the evidence committed by evidenceHash' })
  evidence?: EvidenceInput | null;

  @Field(() => String, { nullable: true, description: 'the canonical JSON document committed by dataHash (extra-data format v1: sensors, recipient commitments, corrects/reason)' })
  extraData?: string | null;

  @Field(() => [PersonalDataInput], { nullable: true, description: 'values and salts opening commitments in extraData; erasable later' })
  personalData?: PersonalDataInput[] | null;
}
