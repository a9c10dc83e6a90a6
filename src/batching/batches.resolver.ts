import { Inject } from '@nestjs/common';
import { Args, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Caller, Roles } from '../auth/decorators';
import { isPlatformReader, type Principal } from '../auth/principal';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { Uint64Scalar } from '../common/scalars';
import { decodeCursor, encodeCursor } from '../common/cursor';
import { sqlRows } from '../database/data-source';
import { Batch, BatchConnection, BatchesArgs, toBatch, type BatchRow } from './models/batch.model';
import { SealerService } from './sealer.service';

/** Sequence numbers are stored as PostgreSQL bigint; anything above cannot exist. */
const BIGINT_MAX = (1n << 63n) - 1n;
const decodeBatchCursor = (cursor: string): string => decodeCursor(cursor, 'batch', ['bigint'], 'batches')[0];

@Resolver(() => Batch)
export class BatchesResolver {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly sealer: SealerService,
  ) {}

  @Query(() => Batch)
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async batch(@Args('seq', { type: () => Uint64Scalar }) seq: bigint): Promise<Batch> {
    const [row] = seq > BIGINT_MAX ? [] : await sqlRows<BatchRow>(this.runtime.dataSource, `SELECT * FROM anchor_batches WHERE seq = $1`, [seq.toString()]);
    if (!row) throw new LedgerError('NOT_FOUND', `no batch ${seq}`, 'seq');
    return toBatch(row);
  }

  @Query(() => BatchConnection, { description: 'Batches in sequence order.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async batches(@Args() { first, after }: BatchesArgs): Promise<BatchConnection> {
    if (!Number.isInteger(first) || first < 1 || first > 500) throw new LedgerError('VALIDATION_FAILED', 'first must be from 1 to 500', 'first');
    const from = after ? decodeBatchCursor(after) : null;
    const rows = await sqlRows<BatchRow>(this.runtime.dataSource, `SELECT * FROM anchor_batches WHERE $1::bigint IS NULL OR seq > $1::bigint ORDER BY seq LIMIT $2`, [from, first + 1]);
    const [{ n }] = await sqlRows<{ n: number }>(this.runtime.dataSource, `SELECT count(*)::int AS n FROM anchor_batches`);
    const page = rows.slice(0, first);
    return {
      edges: page.map((r) => ({ cursor: encodeCursor('batch', r.seq), node: toBatch(r) })),
      pageInfo: { hasNextPage: rows.length > first, endCursor: page.length ? encodeCursor('batch', page[page.length - 1].seq) : null },
      totalCount: n,
    };
  }

  @ResolveField(() => String, { nullable: true, description: 'why the last anchoring attempt failed, if it did: operations detail (RPC errors), for the admin, auditors and platform-wide dispute analysts; null for tenants' })
  lastError(@Parent() batch: Batch, @Caller() caller: Principal): string | null {
    return isPlatformReader(caller) ? batch.lastError : null;
  }

  @Mutation(() => Batch, { nullable: true, description: 'Seals what is pending now (up to BATCH_MAX_EVENTS) instead of waiting for the size or age trigger; null when nothing is pending.' })
  @Roles('ADMIN')
  async sealBatch(): Promise<Batch | null> {
    const sealed = await this.sealer.sealNow(true);
    if (!sealed) return null;
    return this.batch(sealed.seq);
  }
}
