import { Inject } from '@nestjs/common';
import { Args, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { RUNTIME, type Runtime } from '../common/runtime';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { CreateShipmentInput, UpdateShipmentInput } from './dto/create-shipment.input';
import { Shipment, ShipmentConnection, ShipmentsArgs } from './models/shipment.model';
import { ShipmentsService } from './shipments.service';

@Resolver(() => Shipment)
export class ShipmentsResolver {
  /** The queries read from the read replica when there is one (ReadRouter: read-your-writes, lag bound). */
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly service: ShipmentsService,
  ) {}

  @Mutation(() => Shipment, { description: 'By the platform admin, the carrier itself, or the merchant it ships for.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async createShipment(@Args('input') input: CreateShipmentInput, @Caller() caller: Principal): Promise<Shipment> {
    return this.service.create(input, caller);
  }

  @Query(() => ShipmentConnection, { description: 'Shipments page by page (Relay cursors), ordered by last change; filter by carrier, merchant, status, custodian, updatedSince, late.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async shipments(@Args() args: ShipmentsArgs, @Caller() caller: Principal): Promise<ShipmentConnection> {
    return this.runtime.reads.run(caller, (db) => this.service.list(args, caller, undefined, db));
  }

  @Mutation(() => Shipment, { description: 'Promised or estimated delivery date, delivery-evidence policy.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async updateShipment(@Args('input') input: UpdateShipmentInput, @Caller() caller: Principal): Promise<Shipment> {
    return this.service.update(input, caller);
  }

  @Mutation(() => Int, { description: "Erases the personal values and salts behind the commitments in a shipment's extra data; returns how many were erased. Commitments, documents and proofs stay valid." })
  @Roles('ADMIN', 'MERCHANT')
  async erasePersonalData(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string, @Args('reason') reason: string, @Caller() caller: Principal): Promise<number> {
    return this.service.erasePersonalData(trackingNumber, carrier, reason, caller);
  }

  @Query(() => Shipment, { description: 'A shipment by tracking number and the slug of the carrier that issued it.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async shipment(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string, @Caller() caller: Principal): Promise<Shipment> {
    return this.runtime.reads.run(caller, (db) => this.service.find(trackingNumber, carrier, caller, db));
  }
}
