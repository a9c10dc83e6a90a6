import { ArgsType, Field, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import type { FindingCode, Severity } from './detectors';

export enum SeverityEnum {
  LOW = 'LOW',
  MEDIUM = 'MEDIUM',
  HIGH = 'HIGH',
}
registerEnumType(SeverityEnum, { name: 'Severity' });

@ObjectType({ description: 'Something in a custody chain that a dispute analyst or operations should look at.' })
export class FindingModel {
  @Field(() => String, { description: 'stable code, see the README (e.g. DELIVERY_OUTSIDE_GEOFENCE)' }) code: FindingCode;
  @Field(() => SeverityEnum) severity: Severity;
  @Field() message: string;
  @Field(() => [String], { description: 'the event the finding is about first, then context events' }) eventIds: string[];
}

@ObjectType()
export class FraudReport {
  @Field() trackingNumber: string;
  @Field() carrier: string;
  @Field(() => SeverityEnum, { nullable: true, description: 'null when nothing was found' }) highestSeverity: Severity | null;
  @Field(() => [FindingModel]) findings: FindingModel[];
  @Field() checkedAt: Date;
}

@ObjectType()
export class Incident {
  @Field() trackingNumber: string;
  @Field() carrier: string;
  @Field() shipmentStatus: string;
  @Field(() => FindingModel) finding: FindingModel;
}

@InputType()
export class IncidentFilterInput {
  @Field(() => String, { nullable: true }) carrier?: string | null;
  @Field(() => String, { nullable: true }) merchant?: string | null;
  @Field(() => SeverityEnum, { nullable: true, description: 'only this severity and above' }) minSeverity?: Severity | null;
  @Field(() => [String], { nullable: true, description: 'only these codes, e.g. STALE_SHIPMENT, LATE_SHIPMENT' }) codes?: string[] | null;
  @Field(() => Int, { nullable: true, description: 'hours without a scan before a moving shipment is stale (default 48)' }) staleAfterHours?: number | null;
}

@ArgsType()
export class IncidentsArgs {
  @Field(() => IncidentFilterInput, { nullable: true }) filter?: IncidentFilterInput | null;
  @Field(() => Int, { defaultValue: 500, description: 'how many of the most recently changed shipments to examine (1-2000)' }) scanLimit: number;
}
