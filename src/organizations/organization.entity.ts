import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export const ORGANIZATION_KINDS = ['CARRIER', 'MERCHANT', 'HUB', 'LOCKER_OPERATOR', 'AUDITOR'] as const;
export type OrganizationKind = (typeof ORGANIZATION_KINDS)[number];

@Entity({ name: 'organizations' })
export class OrganizationEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text', unique: true })
  slug: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  kind: OrganizationKind;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /** Set by the platform admin: the organization's API keys stop working; what it recorded stays valid. */
  @Column({ name: 'suspended_at', type: 'timestamptz', nullable: true })
  suspendedAt: Date | null;

  @Column({ name: 'suspension_reason', type: 'text', nullable: true })
  suspensionReason: string | null;

  /** Branding on public tracking pages (updateOrganizationBranding); null: not set */
  @Column({ name: 'display_name', type: 'text', nullable: true })
  displayName: string | null;

  @Column({ name: 'logo_url', type: 'text', nullable: true })
  logoUrl: string | null;

  @Column({ name: 'brand_color', type: 'text', nullable: true })
  brandColor: string | null;

  @Column({ name: 'accent_color', type: 'text', nullable: true })
  accentColor: string | null;
}
