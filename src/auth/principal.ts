/** Who is calling, as established from the API key, and what that lets them see. */
export const ROLES = ['ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /** null for the bootstrap admin key from the environment */
  keyId: string | null;
  role: Role;
  organizationId: string | null;
  organizationSlug: string | null;
  manageKeys: boolean;
}

/** What a caller may read; every data-layer read takes one, so no query can forget it. */
export type Scope = Pick<Principal, 'role' | 'organizationId'>;

/** For the service's own work (sealing, anchoring, disputes' snapshots after the access check). */
export const SYSTEM_SCOPE: Scope = { role: 'ADMIN', organizationId: null };

const GLOBAL_READERS = new Set<Role>(['ADMIN', 'DISPUTE_ANALYST', 'AUDITOR']);

/**
 * SQL predicate on shipments `s` a scope may read: merchants their own shipments; carriers,
 * hubs and locker operators the shipments they carry or have held; platform roles everything.
 */
export function shipmentScopeSql(scope: Scope, params: unknown[], s = 's'): string {
  if (GLOBAL_READERS.has(scope.role)) return 'TRUE';
  params.push(scope.organizationId);
  const p = `$${params.length}::uuid`;
  if (scope.role === 'MERCHANT') return `${s}.merchant_id = ${p}`;
  return `(${s}.carrier_id = ${p} OR EXISTS (SELECT 1 FROM custody_events x WHERE x.shipment_id = ${s}.id AND x.custodian_id = ${p}))`;
}

/**
 * SQL predicate on events `e` of shipments `s`: a custodian organization that is not the
 * shipment's carrier sees the events from when it first took custody on, not the journey before.
 */
export function eventScopeSql(scope: Scope, params: unknown[], e = 'e', s = 's'): string {
  if (GLOBAL_READERS.has(scope.role)) return 'TRUE';
  params.push(scope.organizationId);
  const p = `$${params.length}::uuid`;
  if (scope.role === 'MERCHANT') return `${s}.merchant_id = ${p}`;
  return `(${s}.carrier_id = ${p} OR ${e}.occurred_at_ms >= (SELECT min(x.occurred_at_ms) FROM custody_events x WHERE x.shipment_id = ${e}.shipment_id AND x.custodian_id = ${p}))`;
}

/**
 * SQL condition under which personal values of events of shipment `s` are shown: auditors never,
 * hubs and lockers not for shipments they do not carry; the merchant, the carrier, dispute
 * analysts and the platform admin yes.
 */
export function personalDataScopeSql(scope: Scope, params: unknown[], s = 's'): string {
  if (scope.role === 'ADMIN' || scope.role === 'DISPUTE_ANALYST') return 'TRUE';
  if (scope.role === 'AUDITOR') return 'FALSE';
  params.push(scope.organizationId);
  return scope.role === 'MERCHANT' ? `${s}.merchant_id = $${params.length}::uuid` : `${s}.carrier_id = $${params.length}::uuid`;
}

/** shipmentScopeSql for TypeORM query builders (named parameters). */
export function shipmentScopeNamed(scope: Scope, s = 's'): { where: string; params: Record<string, unknown> } {
  const params: unknown[] = [];
  const sql = shipmentScopeSql(scope, params, s);
  return { where: sql.replace(/\$1::uuid/g, ':scopeOrganization'), params: { scopeOrganization: params[0] } };
}
