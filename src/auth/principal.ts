import { LedgerError } from '../common/errors';

/** Who is calling, as established from the API key, and what that lets them see. */
export const ROLES = ['ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /** null for the bootstrap admin key from the environment */
  keyId: string | null;
  role: Role;
  organizationId: string | null;
  organizationSlug: string | null;
  /** kind of the key's organization (CARRIER, MERCHANT, HUB, …); null without organization */
  organizationKind: string | null;
  manageKeys: boolean;
}

/** What a caller may read; every data-layer read takes one, so no query can forget it. */
export type Scope = Pick<Principal, 'role' | 'organizationId'> & Partial<Pick<Principal, 'organizationKind'>>;

/** For the service's own work (sealing, anchoring, disputes' snapshots after the access check). */
export const SYSTEM_SCOPE: Scope = { role: 'ADMIN', organizationId: null };

/**
 * Whose shipments a scope reads: ALL (admin, auditors, a platform-wide dispute analyst), a
 * MERCHANT's own, a CARRIER's carried or held ones, or NONE. A dispute analyst of an
 * organization reads what that organization's own keys read.
 */
export type View = 'ALL' | 'MERCHANT' | 'CARRIER' | 'NONE';

const CARRYING_KINDS = new Set(['CARRIER', 'HUB', 'LOCKER_OPERATOR']);

export function viewOf(scope: Scope): View {
  if (scope.role === 'ADMIN' || scope.role === 'AUDITOR') return 'ALL';
  if (scope.role === 'MERCHANT') return 'MERCHANT';
  if (scope.role === 'CARRIER') return 'CARRIER';
  if (scope.organizationId === null) return 'ALL';
  if (scope.organizationKind === 'MERCHANT') return 'MERCHANT';
  return scope.organizationKind && CARRYING_KINDS.has(scope.organizationKind) ? 'CARRIER' : 'NONE';
}

/** The platform roles: the admin, auditors and platform-wide dispute analysts (a key without organization). */
export const isPlatformReader = (scope: Scope): boolean => scope.role === 'ADMIN' || scope.role === 'AUDITOR' || (scope.role === 'DISPUTE_ANALYST' && scope.organizationId === null);

/**
 * SQL predicate on shipments `s` a scope may read: merchants their own shipments; carriers,
 * hubs and locker operators the shipments they carry or have held; platform roles everything.
 */
export function shipmentScopeSql(scope: Scope, params: unknown[], s = 's'): string {
  const view = viewOf(scope);
  if (view === 'ALL' || view === 'NONE') return view === 'ALL' ? 'TRUE' : 'FALSE';
  params.push(scope.organizationId);
  const p = `$${params.length}::uuid`;
  if (view === 'MERCHANT') return `${s}.merchant_id = ${p}`;
  return `(${s}.carrier_id = ${p} OR EXISTS (SELECT 1 FROM custody_events x WHERE x.shipment_id = ${s}.id AND x.custodian_id = ${p}))`;
}

/**
 * SQL predicate on shipments `s` whose disputes a scope may open and read. A dispute is between
 * the shipment's merchant and its carrier, judged by the platform: its bundle is the whole journey
 * and it holds the parties' notes, so a hub or locker that once held the parcel (and reads the
 * shipment from then on) sees none; for it the dispute is missing. Platform roles see all.
 */
export function disputeScopeSql(scope: Scope, params: unknown[], s = 's'): string {
  const view = viewOf(scope);
  if (view === 'ALL' || view === 'NONE') return view === 'ALL' ? 'TRUE' : 'FALSE';
  params.push(scope.organizationId);
  return view === 'MERCHANT' ? `${s}.merchant_id = $${params.length}::uuid` : `${s}.carrier_id = $${params.length}::uuid`;
}

/** disputeScopeSql for one shipment already read with the caller's scope (its carrier and merchant ids). */
export function isDisputeParty(scope: Scope, carrierId: string, merchantId: string | null): boolean {
  const view = viewOf(scope);
  if (view === 'ALL' || view === 'NONE') return view === 'ALL';
  return view === 'MERCHANT' ? merchantId === scope.organizationId : carrierId === scope.organizationId;
}

/**
 * SQL predicate on events `e` of shipments `s`: a custodian organization that is not the
 * shipment's carrier sees the events from when it first took custody on, not the journey before.
 */
export function eventScopeSql(scope: Scope, params: unknown[], e = 'e', s = 's'): string {
  const view = viewOf(scope);
  if (view === 'ALL' || view === 'NONE') return view === 'ALL' ? 'TRUE' : 'FALSE';
  params.push(scope.organizationId);
  const p = `$${params.length}::uuid`;
  if (view === 'MERCHANT') return `${s}.merchant_id = ${p}`;
  return `(${s}.carrier_id = ${p} OR ${e}.occurred_at_ms >= (SELECT min(x.occurred_at_ms) FROM custody_events x WHERE x.shipment_id = ${e}.shipment_id AND x.custodian_id = ${p}))`;
}

/**
 * SQL condition under which personal values of events of shipment `s` are shown: auditors never,
 * hubs and lockers not for shipments they do not carry; the merchant, the carrier, the platform
 * admin and platform-wide dispute analysts yes (an organization's analyst as that organization).
 */
export function personalDataScopeSql(scope: Scope, params: unknown[], s = 's'): string {
  if (scope.role === 'AUDITOR') return 'FALSE';
  const view = viewOf(scope);
  if (view === 'ALL' || view === 'NONE') return view === 'ALL' ? 'TRUE' : 'FALSE';
  params.push(scope.organizationId);
  return view === 'MERCHANT' ? `${s}.merchant_id = $${params.length}::uuid` : `${s}.carrier_id = $${params.length}::uuid`;
}

/** shipmentScopeSql for TypeORM query builders (named parameters). */
export function shipmentScopeNamed(scope: Scope, s = 's'): { where: string; params: Record<string, unknown> } {
  const params: unknown[] = [];
  const sql = shipmentScopeSql(scope, params, s);
  return { where: sql.replace(/\$1::uuid/g, ':scopeOrganization'), params: { scopeOrganization: params[0] } };
}

/** How a row records who made it: the API key, or the bootstrap admin key from the environment. */
export const actorOf = (caller: Principal): string => (caller.keyId ? `key:${caller.keyId}` : 'bootstrap-admin');

/** An organization's own business (contracts, suspension): the organization itself and the platform admin. */
export const seesInternalsOf = (scope: Scope, organizationId: string): boolean => scope.role === 'ADMIN' || scope.organizationId === organizationId;

/** An organization's signing keys: itself and the platform roles (auditors check every signature). */
export const seesSigningKeysOf = (scope: Scope, organizationId: string): boolean => isPlatformReader(scope) || scope.organizationId === organizationId;

/**
 * An organization's API keys and webhook endpoints are managed by the platform admin or by the
 * organization's own keys with manageKeys; other keys (a scanner integration's, say) may not, so a
 * leaked one can neither mint keys nor redirect the organization's events. FORBIDDEN otherwise.
 */
export function mustManage(caller: Principal, organizationId: string | null, what: 'API keys' | 'webhook endpoints'): void {
  if (caller.role === 'ADMIN') return;
  if (!caller.manageKeys || caller.organizationId === null || caller.organizationId !== organizationId) {
    throw new LedgerError('FORBIDDEN', `this key may not manage ${what} of that organization: use a key of the organization with manageKeys, or the platform admin`);
  }
}
