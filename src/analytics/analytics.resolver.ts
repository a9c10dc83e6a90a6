import { Inject } from '@nestjs/common';
import { Args, Query, Resolver } from '@nestjs/graphql';
import { RUNTIME, type Runtime } from '../common/runtime';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { CarrierAnalytics, CarrierAnalyticsArgs } from './analytics.models';
import { AnalyticsService } from './analytics.service';

export type { CarrierAnalyticsResult, CarrierAnalyticsRowResult, FacilityDwellResult } from './analytics.models';

@Resolver()
export class AnalyticsResolver {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly analytics: AnalyticsService,
  ) {}

  @Query(() => CarrierAnalytics, {
    description:
      'Delivery, on-time, first-attempt, exception and loss figures per (carrier, merchant) for shipments that ended in [from, to), with facility dwell times, scan-to-anchor latency, dispute findings and estimate accuracy (README "Carrier analytics"). The admin and platform-wide dispute analysts read all; a carrier its own figures; a merchant its own.',
  })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST')
  async carrierAnalytics(@Args() args: CarrierAnalyticsArgs, @Caller() caller: Principal): Promise<CarrierAnalytics> {
    return this.runtime.reads.run(caller, (db) => this.analytics.carrierAnalytics(args, caller, db));
  }
}
