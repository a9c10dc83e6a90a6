import { Args, Query, Resolver } from '@nestjs/graphql';
import { FraudService } from './fraud.service';
import { highestSeverity } from './detectors';
import { FraudReport, Incident, IncidentsArgs } from './fraud.models';

@Resolver()
export class FraudResolver {
  constructor(private readonly fraud: FraudService) {}

  @Query(() => FraudReport, { description: "Fraud and incident checks over one shipment's custody chain." })
  async fraudReport(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string): Promise<FraudReport> {
    const { findings } = await this.fraud.report(trackingNumber, carrier);
    return { trackingNumber, carrier, findings, highestSeverity: highestSeverity(findings), checkedAt: new Date() };
  }

  @Query(() => [Incident], { description: 'Findings across shipments for operations, most severe first, including stale and late shipments.' })
  async incidents(@Args() { filter, scanLimit }: IncidentsArgs): Promise<Incident[]> {
    const found = await this.fraud.incidents({ ...(filter ?? {}), scanLimit });
    return found.map(({ shipment, finding }) => ({ trackingNumber: shipment.trackingNumber, carrier: shipment.carrier.slug, shipmentStatus: shipment.status, finding }));
  }
}
