import { ArgsType, Field, Float, Int, ObjectType } from '@nestjs/graphql';

/** Definitions of every figure: README "Carrier analytics". */

@ObjectType({ description: 'From receipt of an event (its received time, to the second) to the moment the ledger saw its batch anchored (both on the ledger clock): events received in the period whose batch is anchored.' })
export class AnchorLatency {
  @Field(() => Int) events: number;
  @Field(() => Float, { nullable: true }) avgSeconds: number | null;
  @Field(() => Float, { nullable: true, description: 'nearest rank' }) p50Seconds: number | null;
  @Field(() => Float, { nullable: true, description: 'nearest rank' }) p90Seconds: number | null;
}

@ObjectType({ description: 'How close a kept estimate came to the actual delivery, over the deliveries of the period that had one.' })
export class EstimateAccuracy {
  @Field(() => Int) deliveries: number;
  @Field(() => Float, { nullable: true, description: 'mean of |delivered − estimate| in hours' }) meanAbsoluteErrorHours: number | null;
  @Field(() => Float, { nullable: true, description: 'share (0-1) delivered on the estimate\'s calendar day (UTC)' }) withinDayShare: number | null;
}

@ObjectType()
export class FindingCount {
  @Field() code: string;
  @Field(() => Int) count: number;
}

@ObjectType({ description: 'Figures of the shipments that ended in the period (their first uncorrected DELIVERED, COLLECTED_FROM_LOCKER, RETURNED_TO_SENDER or LOST occurred in it).' })
export class CarrierAnalyticsFigures {
  @Field(() => Int, { description: 'shipments that ended in the period: delivered + returned + lost' }) ended: number;
  @Field(() => Int) delivered: number;
  @Field(() => Int, { description: 'delivered at or before the promised time' }) onTime: number;
  @Field(() => Int, { description: 'delivered after the promised time' }) late: number;
  @Field(() => Int, { description: 'delivered, no promised time: in neither onTime nor late' }) withoutPromise: number;
  @Field(() => Float, { nullable: true, description: 'onTime / (onTime + late); null without any promised delivery' }) onTimeRate: number | null;
  @Field(() => Int, { description: 'delivered with no uncorrected DELIVERY_ATTEMPTED before the delivery' }) firstAttempt: number;
  @Field(() => Float, { nullable: true, description: 'firstAttempt / delivered' }) firstAttemptRate: number | null;
  @Field(() => Int, { description: 'ended shipments with at least one uncorrected EXCEPTION (at any time)' }) withException: number;
  @Field(() => Float, { nullable: true, description: 'withException / ended' }) exceptionRate: number | null;
  @Field(() => Int, { description: 'ended LOST' }) lost: number;
  @Field(() => Float, { nullable: true, description: 'lost / ended' }) lossRate: number | null;
  @Field(() => Int, { description: 'ended RETURNED_TO_SENDER' }) returned: number;
  @Field(() => AnchorLatency) anchorLatency: AnchorLatency;
  @Field(() => [FindingCount], { description: 'findings of the disputes opened in the period, by code (detectors run when a dispute is opened, not at ingestion)' }) disputeFindings: FindingCount[];
  @Field(() => EstimateAccuracy, { description: 'the estimate made with the state after the first scan' }) estimateAtFirstScan: EstimateAccuracy;
  @Field(() => EstimateAccuracy, { description: 'the estimate made with the state after the first OUT_FOR_DELIVERY' }) estimateAtOutForDelivery: EstimateAccuracy;
}

@ObjectType({ description: 'The figures of one carrier for one merchant (merchant null: shipments without merchant).' })
export class CarrierAnalyticsRow extends CarrierAnalyticsFigures {
  @Field({ description: 'carrier slug' }) carrier: string;
  @Field(() => String, { nullable: true, description: 'merchant slug' }) merchant: string | null;
}

@ObjectType({ description: 'Time at a facility: from the first arrival scan at a location code to the first departure scan from it after that, over visits whose departure is in the period.' })
export class FacilityDwell {
  @Field() locationCode: string;
  @Field(() => Int) visits: number;
  @Field(() => Float) avgHours: number;
  @Field(() => Float, { description: 'nearest rank over dwell buckets about 5% wide: within 2.5% (of 1 + minutes) of the true value' }) p50Hours: number;
  @Field(() => Float, { description: 'nearest rank over dwell buckets about 5% wide: within 2.5% (of 1 + minutes) of the true value' }) p90Hours: number;
}

@ObjectType()
export class CarrierAnalytics {
  @Field() from: Date;
  @Field() to: Date;
  @Field(() => [CarrierAnalyticsRow], { description: 'one row per (carrier, merchant) the caller may see, by carrier then merchant' }) rows: CarrierAnalyticsRow[];
  @Field(() => CarrierAnalyticsFigures, { description: 'all rows together' }) totals: CarrierAnalyticsFigures;
  @Field(() => [FacilityDwell], { description: 'the 200 facilities with the most visits, most first' }) facilities: FacilityDwell[];
}

@ArgsType()
export class CarrierAnalyticsArgs {
  @Field({ description: 'start of the period, inclusive' }) from: Date;
  @Field({ description: 'end of the period, exclusive; after from, at most 366 days later' }) to: Date;
  @Field(() => String, { nullable: true, description: 'carrier slug' }) carrier?: string | null;
  @Field(() => String, { nullable: true, description: 'merchant slug' }) merchant?: string | null;
}

/**
 * The `carrierAnalytics` answer as it arrives over GraphQL (JSON: dates as ISO strings), for the
 * web front end: `query { carrierAnalytics(from:…, to:…) { … } }` selecting every field.
 */
type Json<T> = T extends Date ? string : T extends Array<infer U> ? Array<Json<U>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T;
export type CarrierAnalyticsResult = Json<CarrierAnalytics>;
export type CarrierAnalyticsRowResult = Json<CarrierAnalyticsRow>;
export type FacilityDwellResult = Json<FacilityDwell>;
