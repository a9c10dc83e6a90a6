import { UseGuards } from '@nestjs/common';
import { Args, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { AdminKeyGuard } from '../common/auth.guard';
import { CreateShipmentInput, UpdateShipmentInput } from './dto/create-shipment.input';
import { Shipment, ShipmentConnection, ShipmentsArgs } from './models/shipment.model';
import { ShipmentsService } from './shipments.service';

@Resolver(() => Shipment)
export class ShipmentsResolver {
  constructor(private readonly service: ShipmentsService) {}

  @Mutation(() => Shipment)
  @UseGuards(AdminKeyGuard)
  async createShipment(@Args('input') input: CreateShipmentInput): Promise<Shipment> {
    return this.service.create(input);
  }

  @Query(() => ShipmentConnection, { description: 'Shipments page by page (Relay cursors), ordered by last change; filter by carrier, merchant, status, custodian, updatedSince, late.' })
  async shipments(@Args() args: ShipmentsArgs): Promise<ShipmentConnection> {
    return this.service.list(args);
  }

  @Mutation(() => Shipment, { description: 'Promised or estimated delivery date, delivery-evidence policy.' })
  @UseGuards(AdminKeyGuard)
  async updateShipment(@Args('input') input: UpdateShipmentInput): Promise<Shipment> {
    return this.service.update(input);
  }

  @Mutation(() => Int, { description: "Erases the personal values and salts behind the commitments in a shipment's extra data; returns how many were erased. Commitments, documents and proofs stay valid." })
  @UseGuards(AdminKeyGuard)
  async erasePersonalData(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string, @Args('reason') reason: string): Promise<number> {
    return this.service.erasePersonalData(trackingNumber, carrier, reason);
  }

  @Query(() => Shipment, { description: 'A shipment by tracking number and the slug of the carrier that issued it.' })
  async shipment(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string): Promise<Shipment> {
    return this.service.find(trackingNumber, carrier);
  }
}
