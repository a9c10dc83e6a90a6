import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { OrganizationEntity } from '../organizations/organization.entity';
import type { ShipmentStatus } from '../custody/event-types';
import type { EstimateBasis } from '../analytics/shipment-facts';

@Entity({ name: 'shipments' })
export class ShipmentEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'carrier_id', type: 'uuid' })
  carrierId: string;

  @ManyToOne(() => OrganizationEntity)
  @JoinColumn({ name: 'carrier_id' })
  carrier?: OrganizationEntity;

  @Column({ name: 'tracking_number', type: 'text' })
  trackingNumber: string;

  @Column({ name: 'merchant_id', type: 'uuid', nullable: true })
  merchantId: string | null;

  @ManyToOne(() => OrganizationEntity)
  @JoinColumn({ name: 'merchant_id' })
  merchant?: OrganizationEntity | null;

  @Column({ name: 'destination_lat_e6', type: 'integer', nullable: true })
  destinationLatE6: number | null;

  @Column({ name: 'destination_lon_e6', type: 'integer', nullable: true })
  destinationLonE6: number | null;

  @Column({ name: 'destination_radius_m', type: 'integer', nullable: true })
  destinationRadiusM: number | null;

  @Column({ type: 'text' })
  status: ShipmentStatus;

  @Column({ name: 'current_custodian_id', type: 'uuid', nullable: true })
  currentCustodianId: string | null;

  @ManyToOne(() => OrganizationEntity)
  @JoinColumn({ name: 'current_custodian_id' })
  currentCustodian?: OrganizationEntity | null;

  /** Leaf of the last accepted event: the next event's previousLeaf. */
  @Column({ name: 'head_leaf', type: 'text' })
  headLeaf: string;

  @Column({ name: 'event_count', type: 'integer' })
  eventCount: number;

  @Column({ name: 'last_event_at_ms', type: 'bigint', nullable: true })
  lastEventAtMs: string | null;

  @Column({ name: 'sub_status', type: 'text', nullable: true })
  subStatus: string | null;

  @Column({ name: 'require_delivery_evidence', type: 'boolean', default: false })
  requireDeliveryEvidence: boolean;

  @Column({ name: 'require_countersigned_handoffs', type: 'boolean', default: false })
  requireCounterSignedHandoffs: boolean;

  @Column({ name: 'promised_delivery_at', type: 'timestamptz', nullable: true })
  promisedDeliveryAt: Date | null;

  @Column({ name: 'estimated_delivery_at', type: 'timestamptz', nullable: true })
  estimatedDeliveryAt: Date | null;

  /** the carrier's own estimate (createShipment / updateShipment); estimatedDeliveryAt follows the scans */
  @Column({ name: 'carrier_estimated_delivery_at', type: 'timestamptz', nullable: true })
  carrierEstimatedDeliveryAt: Date | null;

  @Column({ name: 'estimate_basis', type: 'text', nullable: true })
  estimateBasis: EstimateBasis | null;

  @Column({ name: 'estimate_samples', type: 'integer', nullable: true })
  estimateSamples: number | null;

  @Column({ name: 'delivered_at_ms', type: 'bigint', nullable: true })
  deliveredAtMs: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
