import { Field, ObjectType } from '@nestjs/graphql';
import { CustodyEvent } from '../custody/models/custody-event.model';
import { Shipment } from '../shipments/models/shipment.model';

@ObjectType({ description: 'A custody event newly recorded on a shipment (with its status and receipt fields), and the shipment as it stands after it.' })
export class ShipmentUpdate {
  @Field(() => Shipment) shipment: Shipment;
  @Field(() => CustodyEvent) event: CustodyEvent;
}
