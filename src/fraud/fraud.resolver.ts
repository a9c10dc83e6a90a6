import { Args, Query, Resolver } from '@nestjs/graphql';
import { FraudService } from './fraud.service';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { highestSeverity } from './detectors';
import { FraudReport, Incident, IncidentsArgs } from './fraud.models';

@Resolver()
export class FraudResolver {
  constructor(private readonly fraud: FraudService) {}

  @Query(() => FraudReport, { description: "Fraud and incident checks over one shipment's custody chain." })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async fraudReport(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string, @Caller() caller: Principal): Promise<FraudReport> {
    const { findings } = await this.fraud.report(trackingNumber, carrier, caller);
    return { trackingNumber, carrier, findings, highestSeverity: highestSeverity(findings), checkedAt: new Date() };
  }

  @Query(() => [Incident], { description: 'Findings across shipments for operations, most severe first, including stale and late shipments.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST')
  async incidents(@Args() { filter, scanLimit }: IncidentsArgs, @Caller() caller: Principal): Promise<Incident[]> {
    const found = await this.fraud.incidents({ ...(filter ?? {}), scanLimit }, caller);
    return found.map(({ shipment, finding }) => ({ trackingNumber: shipment.trackingNumber, carrier: shipment.carrier.slug, shipmentStatus: shipment.status, finding }));
  }
}
