import { Inject, Injectable } from '@nestjs/common';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { inTransaction, isUniqueViolation, sqlRows } from '../database/data-source';
import { SLUG_PATTERN, TRACKING_NUMBER_PATTERN } from '../custody/event-validation';
import { recoverSigners } from '../signing/signature-verifier';
import { delegationDigest, type DelegationFields } from '../signing/delegation-signing';
import type { Principal } from '../auth/principal';
import type { DelegationRow, RegisterDelegationInput, RevokeDelegationInput } from './delegation.model';

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
type Org = { id: string; slug: string; kind: string; suspended: boolean };
const UINT64_MAX = (1n << 64n) - 1n;
/** Platform roles see every organization's delegations; others those they are a party to. */
const SEES_ALL = new Set(['ADMIN', 'AUDITOR']);

const COLUMNS = `d.delegation_id, d.delegator, d.delegate, d.carrier, d.tracking_number, d.valid_from_ms::text AS valid_from_ms, d.valid_until_ms::text AS valid_until_ms,
  d.signer, d.signature, d.digest, d.registered_at, d.revoked_at, d.revocation_reason,
  (SELECT count(*)::int FROM custody_events e WHERE e.delegation_id = d.delegation_id) AS transfers`;

/**
 * Delegations (custody-delegation/1): registered by the delegating organization (or the platform
 * admin) with the EIP-712 signature of one of its keys, revocable by it, never deleted. Ingestion
 * reads them (custody-ingestion.service.ts); the sealer anchors them in the state map.
 */
@Injectable()
export class DelegationsService {
  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  async register(input: RegisterDelegationInput, caller: Principal): Promise<DelegationRow> {
    const invalid = (message: string, field: string): LedgerError => new LedgerError('VALIDATION_FAILED', message, field);
    if (!HEX32.test(input.delegationId)) throw invalid('delegationId must be 0x followed by 64 hex digits (32 random bytes)', 'delegationId');
    for (const field of ['delegator', 'delegate', 'carrier'] as const) {
      if (!SLUG_PATTERN.test(input[field])) throw invalid(`${field} must be an organization slug`, field);
    }
    if (input.trackingNumber !== '' && !TRACKING_NUMBER_PATTERN.test(input.trackingNumber)) throw invalid('trackingNumber must be "" (every shipment of the carrier) or a tracking number: 3-64 letters, digits, ".", "_", "/", "-"', 'trackingNumber');
    if (input.validFrom > UINT64_MAX || input.validUntil > UINT64_MAX) throw invalid('validFrom and validUntil are uint64 unix milliseconds', 'validUntil');
    if (input.validUntil <= input.validFrom) throw invalid('validUntil must be after validFrom', 'validUntil');
    if (input.delegate === input.delegator) throw invalid('an organization cannot delegate to itself', 'delegate');
    if (!/^0x[0-9a-fA-F]{130}$/.test(input.signature)) throw new LedgerError('INVALID_DELEGATION', 'signature must be 65 bytes (r ‖ s ‖ v) as 0x-prefixed hex', 'signature');
    const orgs = await sqlRows<Org>(this.runtime.dataSource, `SELECT id, slug, kind, suspended_at IS NOT NULL AS suspended FROM organizations WHERE slug = ANY($1::text[])`, [[input.delegator, input.delegate, input.carrier]]);
    const org = (slug: string, field: string): Org => {
      const found = orgs.find((o) => o.slug === slug);
      if (!found) throw new LedgerError('NOT_FOUND', `no organization with slug "${slug}"`, field);
      return found;
    };
    const delegator = org(input.delegator, 'delegator');
    const delegate = org(input.delegate, 'delegate');
    const carrier = org(input.carrier, 'carrier');
    if (caller.role !== 'ADMIN' && caller.organizationId !== delegator.id) throw new LedgerError('FORBIDDEN', `a key of "${caller.organizationSlug}" may only register delegations of its own organization`, 'delegator');
    for (const o of [delegator, delegate]) {
      if (o.suspended) throw new LedgerError('ORGANIZATION_SUSPENDED', `"${o.slug}" is suspended: no delegation from or to it can be registered until the platform admin reinstates it`, o === delegator ? 'delegator' : 'delegate');
    }
    if (carrier.kind !== 'CARRIER') throw invalid(`"${carrier.slug}" is a ${carrier.kind}, not a carrier`, 'carrier');

    const fields: DelegationFields = { delegationId: input.delegationId.toLowerCase(), delegator: delegator.slug, delegate: delegate.slug, carrier: carrier.slug, trackingNumber: input.trackingNumber, validFrom: input.validFrom, validUntil: input.validUntil };
    const digest = delegationDigest(this.runtime.domainSeparator, fields);
    const [recovered] = recoverSigners([{ digest, signature: input.signature }]);
    if (!recovered.ok) throw new LedgerError('INVALID_DELEGATION', `signature: ${recovered.reason}`, 'signature');
    const [key] = await sqlRows<{ organization_id: string; revoked_at: Date | null }>(this.runtime.dataSource, `SELECT organization_id, revoked_at FROM signing_keys WHERE address = $1`, [recovered.signer]);
    if (!key || key.organization_id !== delegator.id) {
      throw new LedgerError(
        'INVALID_DELEGATION',
        `the signature recovers to ${recovered.signer}, which is not a registered signing key of "${delegator.slug}": a delegation must be signed by a key of the delegating organization, over exactly these values (custody-delegation/1)`,
        'signature',
      );
    }
    if (key.revoked_at !== null && key.revoked_at.getTime() <= Date.now()) throw new LedgerError('INVALID_DELEGATION', `signing key ${recovered.signer} was revoked at ${key.revoked_at.toISOString()}; sign the delegation with an active key`, 'signature');
    try {
      await sqlRows(
        this.runtime.dataSource,
        `INSERT INTO custody_delegations (delegation_id, delegator, delegate, carrier, tracking_number, delegator_id, delegate_id, carrier_id, valid_from_ms, valid_until_ms, signature, signer, digest, registered_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
        [fields.delegationId, delegator.slug, delegate.slug, carrier.slug, fields.trackingNumber, delegator.id, delegate.id, carrier.id, fields.validFrom.toString(), fields.validUntil.toString(), input.signature.toLowerCase(), recovered.signer, digest, caller.keyId ? `key:${caller.keyId}` : 'bootstrap-admin'],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new LedgerError('ALREADY_EXISTS', `delegation ${fields.delegationId} is registered already; choose a new random delegationId`, 'delegationId');
      throw err;
    }
    return this.get(fields.delegationId);
  }

  async revoke(input: RevokeDelegationInput, caller: Principal): Promise<DelegationRow> {
    const id = input.delegationId.toLowerCase();
    const reason = input.reason.trim();
    if (reason.length < 1 || reason.length > 500) throw new LedgerError('VALIDATION_FAILED', 'reason must be 1-500 characters', 'reason');
    const revokedAt = input.revokedAt ?? new Date();
    await inTransaction(this.runtime.dataSource, async (runner) => {
      const [row] = HEX32.test(id)
        ? await sqlRows<{ delegator_id: string; revoked_at: Date | null }>(runner, `SELECT delegator_id, revoked_at FROM custody_delegations WHERE delegation_id = $1 FOR UPDATE`, [id])
        : [];
      if (!row || (caller.role !== 'ADMIN' && row.delegator_id !== caller.organizationId)) throw new LedgerError('NOT_FOUND', `no delegation ${input.delegationId} given by your organization`, 'delegationId');
      if (row.revoked_at) throw new LedgerError('DELEGATION_ALREADY_REVOKED', `delegation ${id} was revoked at ${row.revoked_at.toISOString()}`, 'delegationId');
      // transfers accepted under it are evidence others rely on: a revocation cannot be dated back over them
      const [{ last }] = await sqlRows<{ last: string | null }>(runner, `SELECT max(occurred_at_ms)::text AS last FROM custody_events WHERE delegation_id = $1`, [id]);
      if (last !== null && revokedAt.getTime() <= Number(last)) {
        throw new LedgerError('REVOCATION_BEFORE_USE', `a transfer under delegation ${id} occurred at ${new Date(Number(last)).toISOString()}; revokedAt must be after it (a revocation cannot void accepted transfers)`, 'revokedAt');
      }
      await runner.query(`UPDATE custody_delegations SET revoked_at = $2, revocation_reason = $3 WHERE delegation_id = $1`, [id, revokedAt, reason]);
    });
    return this.get(id);
  }

  /** The delegations an organization gave or holds, as far as the caller may see them. */
  async ofOrganization(organizationId: string, caller: Principal): Promise<DelegationRow[]> {
    const params: unknown[] = [organizationId];
    let visible = 'TRUE';
    if (!SEES_ALL.has(caller.role)) {
      params.push(caller.organizationId);
      visible = `$2::uuid IN (d.delegator_id, d.delegate_id, d.carrier_id)`;
    }
    return sqlRows<DelegationRow>(
      this.runtime.dataSource,
      `SELECT ${COLUMNS} FROM custody_delegations d WHERE ($1::uuid IN (d.delegator_id, d.delegate_id)) AND ${visible} ORDER BY d.registered_at, d.delegation_id`,
      params,
    );
  }

  private async get(id: string): Promise<DelegationRow> {
    const [row] = await sqlRows<DelegationRow>(this.runtime.dataSource, `SELECT ${COLUMNS} FROM custody_delegations d WHERE d.delegation_id = $1`, [id]);
    return row;
  }
}
