import { Inject, Injectable } from '@nestjs/common';
import { getAddress, isAddress } from 'ethers';
import { LedgerError } from '../common/errors';
import { inTransaction, isUniqueViolation, sqlRows } from '../database/data-source';
import { ApiKeysService } from '../auth/api-keys.service';
import { WebhooksService } from '../webhooks/webhooks.service';
import { RUNTIME, type Runtime } from '../common/runtime';
import { SLUG_PATTERN } from '../custody/event-validation';
import { OrganizationEntity } from './organization.entity';
import { SigningKeyEntity } from './signing-key.entity';
import { actorOf, type Principal } from '../auth/principal';
import type { CarrierContractRow } from './models/organization.model';
import type { RegisterOrganizationInput, RegisterSigningKeyInput, RevokeSigningKeyInput, UpdateOrganizationBrandingInput } from './dto/organization.inputs';
import { validateBranding } from './branding';


/** Signing keys are registered and revoked by their own organization only (or the platform admin). */
function ownOrganization(caller: Principal, organizationId: string, what: string): void {
  if (caller.role !== 'ADMIN' && caller.organizationId !== organizationId) throw new LedgerError('FORBIDDEN', `a key of "${caller.organizationSlug}" may only ${what} for its own organization`, 'organization');
}

@Injectable()
export class OrganizationsService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly apiKeys: ApiKeysService,
    private readonly webhooks: WebhooksService,
  ) {}

  private get organizations() {
    return this.runtime.dataSource.getRepository(OrganizationEntity);
  }

  private get keys() {
    return this.runtime.dataSource.getRepository(SigningKeyEntity);
  }

  async register(input: RegisterOrganizationInput): Promise<OrganizationEntity> {
    if (!SLUG_PATTERN.test(input.slug) || input.slug.length < 2) {
      throw new LedgerError('VALIDATION_FAILED', 'slug must be 2-64 characters of lower-case letters, digits and "-", not starting or ending with "-"', 'slug');
    }
    const name = input.name.trim();
    if (name.length < 1 || name.length > 200) throw new LedgerError('VALIDATION_FAILED', 'name must be 1-200 characters', 'name');
    try {
      return await this.organizations.save(this.organizations.create({ slug: input.slug, name, kind: input.kind }));
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new LedgerError('ALREADY_EXISTS', `an organization with slug "${input.slug}" exists already`, 'slug');
      }
      throw err;
    }
  }

  async bySlug(slug: string, field = 'organization'): Promise<OrganizationEntity> {
    const org = SLUG_PATTERN.test(slug) ? await this.organizations.findOneBy({ slug }) : null;
    if (!org) throw new LedgerError('NOT_FOUND', `no organization with slug "${slug}"`, field);
    return org;
  }

  async bySlugs(slugs: string[]): Promise<Map<string, OrganizationEntity>> {
    const rows = await this.organizations.createQueryBuilder('o').where('o.slug IN (:...slugs)', { slugs: [...new Set(slugs)] }).getMany();
    return new Map(rows.map((o) => [o.slug, o]));
  }

  async byIds(ids: string[]): Promise<Map<string, OrganizationEntity>> {
    if (ids.length === 0) return new Map();
    const rows = await this.organizations.createQueryBuilder('o').where('o.id IN (:...ids)', { ids: [...new Set(ids)] }).getMany();
    return new Map(rows.map((o) => [o.id, o]));
  }

  async registerKey(input: RegisterSigningKeyInput, caller: Principal): Promise<{ key: SigningKeyEntity; organization: OrganizationEntity }> {
    if (!isAddress(input.address)) throw new LedgerError('VALIDATION_FAILED', 'address must be a 20-byte 0x address', 'address');
    if (input.label.length > 200) throw new LedgerError('VALIDATION_FAILED', 'label must be at most 200 characters', 'label');
    const organization = await this.bySlug(input.organization);
    ownOrganization(caller, organization.id, 'register signing keys');
    const address = getAddress(input.address).toLowerCase();
    try {
      // insert, never save: save() upserts on the primary key, so registering a known address again
      // would silently move the key to another organization or clear its revocation
      const key = this.keys.create({ address, organizationId: organization.id, label: input.label, validFrom: input.validFrom ?? new Date(), revokedAt: null, revocationReason: null });
      await this.keys.insert(key);
      return { key, organization };
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new LedgerError('ALREADY_EXISTS', `signing key ${address} is registered already (keys are never reused across organizations)`, 'address');
      }
      throw err;
    }
  }

  async revokeKey(input: RevokeSigningKeyInput, caller: Principal): Promise<{ key: SigningKeyEntity; organization: OrganizationEntity }> {
    if (!isAddress(input.address)) throw new LedgerError('VALIDATION_FAILED', 'address must be a 20-byte 0x address', 'address');
    const reason = input.reason.trim();
    if (reason.length < 1 || reason.length > 500) throw new LedgerError('VALIDATION_FAILED', 'reason must be 1-500 characters', 'reason');
    const address = getAddress(input.address).toLowerCase();
    // one transaction, the key row locked first: two revocations, or a revocation and the check of
    // what the key signed, cannot interleave
    return inTransaction(this.runtime.dataSource, async (runner) => {
      await runner.query(`SELECT address FROM signing_keys WHERE address = $1 FOR UPDATE`, [address]);
      const key = await runner.manager.findOne(SigningKeyEntity, { where: { address }, relations: { organization: true } });
      if (!key || (caller.role !== 'ADMIN' && key.organizationId !== caller.organizationId)) throw new LedgerError('NOT_FOUND', `no signing key ${address} of your organization`, 'address');
      if (key.revokedAt) throw new LedgerError('KEY_ALREADY_REVOKED', `signing key ${address} was revoked at ${key.revokedAt.toISOString()}`, 'address');
      const revokedAt = input.revokedAt ?? new Date();
      if (revokedAt.getTime() < key.validFrom.getTime()) throw new LedgerError('VALIDATION_FAILED', 'revokedAt must not be before the key became valid', 'revokedAt');
      // accepted events are evidence others rely on (a counter-signed handoff, a delivery, a transfer
      // whose consent is a delegation this key signed — the verifier checks the delegation's key at the
      // transfer's time): a key's owner cannot void them by dating its revocation back; a wrong event
      // is withdrawn by a CORRECTION
      const [{ signed, delegated }] = await sqlRows<{ signed: string | null; delegated: string | null }>(
        runner,
        `SELECT (SELECT max(occurred_at_ms) FROM custody_events WHERE signer = $1 OR counter_signer = $1)::text AS signed,
                (SELECT max(e.occurred_at_ms) FROM custody_events e JOIN custody_delegations d ON d.delegation_id = e.delegation_id WHERE d.signer = $1)::text AS delegated`,
        [address],
      );
      const last = signed === null || (delegated !== null && Number(delegated) > Number(signed)) ? delegated : signed;
      if (last !== null && revokedAt.getTime() <= Number(last)) {
        const when = new Date(Number(last)).toISOString();
        throw new LedgerError(
          'REVOCATION_BEFORE_USE',
          last === signed
            ? `the last accepted event signed (or counter-signed) by signing key ${address} occurred at ${when}; revokedAt must be after it (a revocation cannot void accepted events; withdraw a wrong event with a CORRECTION)`
            : `the last accepted transfer under a delegation signed by signing key ${address} occurred at ${when}; revokedAt must be after it (a revocation cannot void the consent of accepted transfers; withdraw a wrong event with a CORRECTION)`,
          'revokedAt',
        );
      }
      await runner.query(`UPDATE signing_keys SET revoked_at = $2, revocation_reason = $3 WHERE address = $1`, [address, revokedAt, reason]);
      key.revokedAt = revokedAt;
      key.revocationReason = reason;
      return { key, organization: key.organization! };
    });
  }

  async keysOf(organizationId: string): Promise<SigningKeyEntity[]> {
    return this.keys.find({ where: { organizationId }, order: { createdAt: 'ASC' } });
  }

  // ---- merchant–carrier contracts ---------------------------------------------------------------

  /** The carrier accepts the merchant as customer; an ended contract is registered anew. */
  async registerContract(carrierSlug: string, merchantSlug: string, caller: Principal): Promise<CarrierContractRow> {
    const { carrier, merchant } = await this.contractParties(carrierSlug, merchantSlug, caller);
    const [row] = await sqlRows<{ carrier_id: string }>(
      this.runtime.dataSource,
      `INSERT INTO carrier_contracts (carrier_id, merchant_id, created_by) VALUES ($1, $2, $3)
         ON CONFLICT (carrier_id, merchant_id) DO UPDATE SET created_at = now(), created_by = EXCLUDED.created_by, ended_at = NULL WHERE carrier_contracts.ended_at IS NOT NULL
         RETURNING carrier_id`,
      [carrier.id, merchant.id, actorOf(caller)],
    );
    if (!row) throw new LedgerError('ALREADY_EXISTS', `carrier "${carrier.slug}" has an active contract with merchant "${merchant.slug}" already`, 'merchant');
    return (await this.contracts(`c.carrier_id = $1 AND c.merchant_id = $2`, [carrier.id, merchant.id]))[0];
  }

  /** No new shipments under it from now on; the shipments made under it stay the merchant's. */
  async endContract(carrierSlug: string, merchantSlug: string, caller: Principal): Promise<CarrierContractRow> {
    const { carrier, merchant } = await this.contractParties(carrierSlug, merchantSlug, caller);
    const [row] = await sqlRows<{ carrier_id: string }>(
      this.runtime.dataSource,
      `UPDATE carrier_contracts SET ended_at = now() WHERE carrier_id = $1 AND merchant_id = $2 AND ended_at IS NULL RETURNING carrier_id`,
      [carrier.id, merchant.id],
    );
    if (!row) throw new LedgerError('NOT_FOUND', `carrier "${carrier.slug}" has no active contract with merchant "${merchant.slug}"`, 'merchant');
    return (await this.contracts(`c.carrier_id = $1 AND c.merchant_id = $2`, [carrier.id, merchant.id]))[0];
  }

  /** Contracts the organization is a party to, ended ones included, oldest first. */
  async contractsOf(organizationId: string): Promise<CarrierContractRow[]> {
    return this.contracts(`$1 IN (c.carrier_id, c.merchant_id)`, [organizationId]);
  }

  async hasActiveContract(carrierId: string, merchantId: string): Promise<boolean> {
    const [row] = await sqlRows(this.runtime.dataSource, `SELECT 1 FROM carrier_contracts WHERE carrier_id = $1 AND merchant_id = $2 AND ended_at IS NULL`, [carrierId, merchantId]);
    return row !== undefined;
  }

  private contracts(where: string, params: unknown[]): Promise<CarrierContractRow[]> {
    return sqlRows<CarrierContractRow>(
      this.runtime.dataSource,
      `SELECT co.slug AS carrier, mo.slug AS merchant, c.created_at, c.created_by, c.ended_at FROM carrier_contracts c
         JOIN organizations co ON co.id = c.carrier_id JOIN organizations mo ON mo.id = c.merchant_id WHERE ${where} ORDER BY c.created_at, mo.slug`,
      params,
    );
  }

  /** The platform admin, or a CARRIER key of that carrier (it accepts its customers). */
  private async contractParties(carrierSlug: string, merchantSlug: string, caller: Principal): Promise<{ carrier: OrganizationEntity; merchant: OrganizationEntity }> {
    const carrier = await this.bySlug(carrierSlug, 'carrier');
    if (caller.role !== 'ADMIN' && caller.organizationId !== carrier.id) throw new LedgerError('FORBIDDEN', `a key of "${caller.organizationSlug}" may only register or end contracts of its own carrier`, 'carrier');
    if (carrier.kind !== 'CARRIER') throw new LedgerError('VALIDATION_FAILED', `organization "${carrier.slug}" is a ${carrier.kind}, not a CARRIER: only carriers have contracts with merchants`, 'carrier');
    const merchant = await this.bySlug(merchantSlug, 'merchant');
    if (merchant.kind !== 'MERCHANT') throw new LedgerError('VALIDATION_FAILED', `organization "${merchant.slug}" is a ${merchant.kind}, not a MERCHANT`, 'merchant');
    return { carrier, merchant };
  }

  // ---- branding ---------------------------------------------------------------------------------

  /**
   * An organization's own key (CARRIER or MERCHANT) sets its own branding; the platform admin any
   * organization's. Everything is checked before anything is written: a refused change changes nothing.
   */
  async updateBranding(input: UpdateOrganizationBrandingInput, caller: Principal): Promise<OrganizationEntity> {
    const slug = input.organization ?? caller.organizationSlug;
    if (!slug) throw new LedgerError('VALIDATION_FAILED', 'a key without organization must name one: input.organization', 'organization');
    const org = await this.bySlug(slug, 'organization');
    ownOrganization(caller, org.id, 'set branding');
    const changes = validateBranding(input, this.runtime.config.production);
    const columns = { displayName: 'display_name', logoUrl: 'logo_url', brandColor: 'brand_color', accentColor: 'accent_color' } as const;
    const set = (Object.keys(changes) as Array<keyof typeof columns>).map((k, i) => `${columns[k]} = $${i + 2}`);
    if (set.length === 0) throw new LedgerError('VALIDATION_FAILED', 'nothing to change: give displayName, logoUrl, brandColor or accentColor (null clears one)', 'input');
    await this.runtime.dataSource.query(`UPDATE organizations SET ${set.join(', ')} WHERE id = $1`, [org.id, ...Object.values(changes)]);
    return this.bySlug(org.slug, 'organization');
  }

  // ---- suspension -------------------------------------------------------------------------------

  /**
   * Its API keys stop at once (ApiKeysService.authenticate checks on every request; this process forgets
   * its cached key rows here, other replicas within API_KEY_CACHE_MS). Signing keys
   * and events are not touched: what it recorded before stays valid and provable.
   */
  async suspend(slug: string, reason: string): Promise<OrganizationEntity> {
    const why = reason.trim();
    if (why.length < 1 || why.length > 500) throw new LedgerError('VALIDATION_FAILED', 'reason must be 1-500 characters: record why', 'reason');
    const org = await this.bySlug(slug, 'slug');
    const [row] = await sqlRows(this.runtime.dataSource, `UPDATE organizations SET suspended_at = now(), suspension_reason = $2 WHERE id = $1 AND suspended_at IS NULL RETURNING id`, [org.id, why]);
    this.apiKeys.forgetCachedKeys();
    if (!row) throw new LedgerError('ORGANIZATION_SUSPENDED', `organization "${slug}" is suspended already since ${org.suspendedAt?.toISOString()}; reinstateOrganization first to suspend it for another reason`, 'slug');
    return this.bySlug(slug, 'slug');
  }

  async reinstate(slug: string): Promise<OrganizationEntity> {
    const org = await this.bySlug(slug, 'slug');
    const row = await inTransaction(this.runtime.dataSource, async (runner) => {
      const [reinstated] = await sqlRows(runner, `UPDATE organizations SET suspended_at = NULL, suspension_reason = NULL WHERE id = $1 AND suspended_at IS NOT NULL RETURNING id`, [org.id]);
      if (reinstated) await this.webhooks.organizationReinstated(runner, org.id);
      return reinstated;
    });
    this.apiKeys.forgetCachedKeys();
    if (!row) throw new LedgerError('VALIDATION_FAILED', `organization "${slug}" is not suspended: nothing to reinstate`, 'slug');
    return this.bySlug(slug, 'slug');
  }
}
