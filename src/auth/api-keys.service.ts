import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { inTransaction, sqlRows } from '../database/data-source';
import { SLUG_PATTERN } from '../custody/event-validation';
import { actorOf, mustManage, type Principal, type Role } from './principal';

/** Key format: `cl_<12 hex prefix>_<48 hex secret>`. The prefix is public (it names the key in lists and logs). */
const KEY_PATTERN = /^cl_([0-9a-f]{12})_([0-9a-f]{48})$/;
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
/** Which roles fit which kinds of organization. */
const ROLE_KINDS: Record<Exclude<Role, 'ADMIN'>, string[]> = {
  CARRIER: ['CARRIER', 'HUB', 'LOCKER_OPERATOR'],
  MERCHANT: ['MERCHANT'],
  // an analyst of an organization reads what that organization reads: an auditor organization has no shipments
  DISPUTE_ANALYST: ['CARRIER', 'MERCHANT', 'HUB', 'LOCKER_OPERATOR'],
  AUDITOR: ['AUDITOR'],
};

export interface ApiKeyRow {
  id: string;
  organization_id: string | null;
  organization: string | null;
  role: Role;
  manage_keys: boolean;
  label: string;
  prefix: string;
  created_at: Date;
  created_by: string;
  revoked_at: Date | null;
  last_used_at: Date | null;
  replaced_by: string | null;
}

/** A key's row as authentication reads it. */
type KeyRow = ApiKeyRow & { secret_hash: string; organization_kind: string | null; suspended_at: Date | null };
/** Rows of keys kept by ApiKeysService.keyByPrefix at most. */
const MAX_CACHED_KEYS = 10_000;

const COLUMNS = `k.id, k.organization_id, o.slug AS organization, k.role, k.manage_keys, k.label, k.prefix, k.created_at, k.created_by, k.revoked_at, k.last_used_at, k.replaced_by`;

/**
 * API keys: shown once at creation, stored as SHA-256 (the secrets are 192-bit random, so a
 * fast hash is enough), found by prefix, compared in constant time, revocable, last use
 * recorded at most once a minute per key. The bootstrap admin key from ADMIN_API_KEY stays valid.
 */
@Injectable()
export class ApiKeysService {
  private readonly bootstrapHash: Buffer;
  private readonly lastUseWritten = new Map<string, number>();
  private readonly cache = new Map<string, { row: KeyRow; at: number }>();
  /** bumped by every change made here, so a lookup that overlapped one is not cached */
  private generation = 0;

  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {
    this.bootstrapHash = createHash('sha256').update(runtime.adminApiKey).digest();
  }

  async authenticate(token: string): Promise<Principal | null> {
    if (timingSafeEqual(createHash('sha256').update(token).digest(), this.bootstrapHash)) {
      return { keyId: null, role: 'ADMIN', organizationId: null, organizationSlug: null, organizationKind: null, manageKeys: true };
    }
    const match = KEY_PATTERN.exec(token);
    if (!match) return null;
    const row = await this.keyByPrefix(match[1]);
    if (!row || row.revoked_at !== null) return null;
    if (!timingSafeEqual(Buffer.from(sha256(match[2]), 'hex'), Buffer.from(row.secret_hash, 'hex'))) return null;
    // checked on every request (against the row as cached, see keyByPrefix): a suspension takes effect at once, a reinstatement too
    if (row.suspended_at !== null) {
      throw new LedgerError('ORGANIZATION_SUSPENDED', `organization "${row.organization}" is suspended since ${row.suspended_at.toISOString()}: its API keys do not work until the platform admin reinstates it (reinstateOrganization)`);
    }
    this.touch(row.id);
    return { keyId: row.id, role: row.role, organizationId: row.organization_id, organizationSlug: row.organization, organizationKind: row.organization_kind, manageKeys: row.manage_keys };
  }

  /**
   * The key's row with its organization's kind and suspension, read at most once per
   * API_KEY_CACHE_MS (0: on every request). This process forgets a row the moment it revokes or
   * rotates the key or suspends or reinstates an organization, so here such a change takes
   * effect at once; another replica serving the same database sees it once its copy is older
   * than API_KEY_CACHE_MS. Only rows that exist are kept (at most MAX_CACHED_KEYS, the oldest
   * going first), so made-up keys cannot fill memory; the secret is still compared on every request.
   */
  private async keyByPrefix(prefix: string): Promise<KeyRow | undefined> {
    const ttl = this.runtime.config.apiKeyCacheMs;
    if (ttl > 0) {
      const hit = this.cache.get(prefix);
      if (hit && Date.now() - hit.at < ttl) return hit.row;
    }
    const generation = this.generation;
    const at = Date.now();
    const [row] = await sqlRows<KeyRow>(
      this.runtime.dataSource,
      `SELECT ${COLUMNS}, k.secret_hash, o.kind AS organization_kind, o.suspended_at FROM api_keys k LEFT JOIN organizations o ON o.id = k.organization_id WHERE k.prefix = $1`,
      [prefix],
    );
    // a read that started before this process revoked or suspended something is not kept: it may predate the change
    if (row && ttl > 0 && generation === this.generation) {
      this.cache.delete(prefix);
      if (this.cache.size >= MAX_CACHED_KEYS) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(prefix, { row, at });
    }
    return row;
  }

  /** After a change to keys or organizations made here: the cached rows are read again. */
  forgetCachedKeys(): void {
    this.generation++;
    this.cache.clear();
  }

  /** Creates a key; the secret is returned here once and never stored. */
  async create(caller: Principal, input: { organization: string | null; role: Role; label: string; manageKeys: boolean }, replacing?: string): Promise<{ key: string; row: ApiKeyRow }> {
    const label = input.label.trim();
    if (label.length > 200) throw new LedgerError('VALIDATION_FAILED', 'label must be at most 200 characters', 'label');
    let organizationId: string | null = null;
    if (input.role === 'ADMIN') {
      if (input.organization) throw new LedgerError('VALIDATION_FAILED', 'an ADMIN key belongs to the platform, not to an organization: omit organization', 'organization');
      if (caller.role !== 'ADMIN') throw new LedgerError('FORBIDDEN', 'only the platform admin creates ADMIN keys');
    } else if (input.role === 'DISPUTE_ANALYST' && !input.organization) {
      // a platform-wide analyst reads every tenant's shipments and disputes: an admin decision
      if (caller.role !== 'ADMIN') throw new LedgerError('FORBIDDEN', 'only the platform admin creates platform-wide DISPUTE_ANALYST keys (without organization)');
      if (input.manageKeys) throw new LedgerError('VALIDATION_FAILED', 'a platform-wide DISPUTE_ANALYST key cannot manage keys: set manageKeys false', 'manageKeys');
    } else {
      if (!input.organization || !SLUG_PATTERN.test(input.organization)) throw new LedgerError('VALIDATION_FAILED', `a ${input.role} key needs the slug of its organization (only DISPUTE_ANALYST keys may omit it, to be platform-wide)`, 'organization');
      const [org] = await sqlRows<{ id: string; kind: string }>(this.runtime.dataSource, `SELECT id, kind FROM organizations WHERE slug = $1`, [input.organization]);
      if (!org) throw new LedgerError('NOT_FOUND', `no organization "${input.organization}"`, 'organization');
      mustManage(caller, org.id, 'API keys');
      if (!ROLE_KINDS[input.role].includes(org.kind)) throw new LedgerError('VALIDATION_FAILED', `a ${org.kind} organization cannot hold ${input.role} keys (allowed: ${ROLE_KINDS[input.role].join(', ')})`, 'role');
      if (caller.role !== 'ADMIN' && input.role !== caller.role) throw new LedgerError('FORBIDDEN', `a ${caller.role} key can only create ${caller.role} keys for its organization`);
      organizationId = org.id;
    }
    const prefix = randomBytes(6).toString('hex');
    const secret = randomBytes(24).toString('hex');
    const createdBy = actorOf(caller);
    const id = await inTransaction(this.runtime.dataSource, async (runner) => {
      const [row] = await sqlRows<{ id: string }>(
        runner,
        `INSERT INTO api_keys (organization_id, role, manage_keys, label, prefix, secret_hash, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
        [organizationId, input.role, input.manageKeys, label, prefix, sha256(secret), createdBy],
      );
      if (replacing) await runner.query(`UPDATE api_keys SET revoked_at = now(), replaced_by = $2 WHERE id = $1`, [replacing, row.id]);
      return row.id;
    });
    if (replacing) this.forgetCachedKeys();
    return { key: `cl_${prefix}_${secret}`, row: await this.get(id) };
  }

  async revoke(caller: Principal, id: string): Promise<ApiKeyRow> {
    const key = await this.visible(caller, id);
    if (key.revoked_at) throw new LedgerError('KEY_ALREADY_REVOKED', `API key ${key.prefix} was revoked at ${key.revoked_at.toISOString()}`, 'id');
    await sqlRows(this.runtime.dataSource, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, [id]);
    this.forgetCachedKeys();
    return this.get(id);
  }

  /** A new key with the same role and rights; the old one stops working at once. */
  async rotate(caller: Principal, id: string): Promise<{ key: string; row: ApiKeyRow }> {
    const old = await this.visible(caller, id);
    if (old.revoked_at) throw new LedgerError('KEY_ALREADY_REVOKED', `API key ${old.prefix} is revoked; create a new one instead`, 'id');
    return this.create(caller, { organization: old.organization, role: old.role, label: old.label, manageKeys: old.manage_keys }, id);
  }

  async list(caller: Principal, organization: string | null): Promise<ApiKeyRow[]> {
    const params: unknown[] = [];
    let where = 'TRUE';
    if (caller.role !== 'ADMIN') {
      mustManage(caller, caller.organizationId, 'API keys');
      params.push(caller.organizationId);
      where = `k.organization_id = $1`;
    } else if (organization) {
      params.push(organization);
      where = `o.slug = $1`;
    }
    return sqlRows<ApiKeyRow>(this.runtime.dataSource, `SELECT ${COLUMNS} FROM api_keys k LEFT JOIN organizations o ON o.id = k.organization_id WHERE ${where} ORDER BY k.created_at, k.id`, params);
  }

  private async get(id: string): Promise<ApiKeyRow> {
    const [row] = /^[0-9a-f-]{36}$/.test(id) ? await sqlRows<ApiKeyRow>(this.runtime.dataSource, `SELECT ${COLUMNS} FROM api_keys k LEFT JOIN organizations o ON o.id = k.organization_id WHERE k.id = $1`, [id]) : [];
    if (!row) throw new LedgerError('NOT_FOUND', `no API key ${id}`, 'id');
    return row;
  }

  /** Another organization's key looks the same as a missing one. */
  private async visible(caller: Principal, id: string): Promise<ApiKeyRow> {
    const key = await this.get(id);
    if (caller.role !== 'ADMIN' && key.organization_id !== caller.organizationId) throw new LedgerError('NOT_FOUND', `no API key ${id}`, 'id');
    mustManage(caller, key.organization_id, 'API keys');
    return key;
  }

  private touch(id: string): void {
    const now = Date.now();
    if ((this.lastUseWritten.get(id) ?? 0) > now - 60_000) return;
    this.lastUseWritten.set(id, now);
    void this.runtime.dataSource.query(`UPDATE api_keys SET last_used_at = now() WHERE id = $1`, [id]).catch(() => undefined);
  }
}
