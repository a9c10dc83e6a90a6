import { UseGuards } from '@nestjs/common';
import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';
import { AdminKeyGuard } from '../common/auth.guard';
import { CreateShipmentInput } from './dto/create-shipment.input';
import { Shipment } from './models/shipment.model';
import { ShipmentsService } from './shipments.service';

@Resolver(() => Shipment)
export class ShipmentsResolver {
  constructor(private readonly shipments: ShipmentsService) {}

  @Mutation(() => Shipment)
  @UseGuards(AdminKeyGuard)
  async createShipment(@Args('input') input: CreateShipmentInput): Promise<Shipment> {
    return this.shipments.create(input);
  }

  @Query(() => Shipment, { description: 'A shipment by tracking number and the slug of the carrier that issued it.' })
  async shipment(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string): Promise<Shipment> {
    return this.shipments.find(trackingNumber, carrier);
  }
}
