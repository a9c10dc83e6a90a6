import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Event keys claimed once per statement instead of once per row (issue 11). custody_event_keys
 * keeps event ids, leaves and corrections unique across every partition of custody_events; the
 * row trigger that claimed them ran a PL/pgSQL function and an INSERT for each event. One AFTER
 * INSERT trigger per statement, over the statement's transition table, claims all of them with
 * one INSERT and then checks that each claim is the row's own: a key held by another event (or by
 * two rows of the same statement) raises the same unique_violation as before, and the statement
 * is undone. A row moved between partitions keeps its key, as before.
 *
 * Measured here (PostgreSQL 15, the same 10,000 stored events inserted again in one statement,
 * twice each, on a loaded machine: compare the ratios): 3.23 / 3.18 s with the row trigger,
 * 2.40 / 1.99 s with this one. Of the rest, a plain table of the same columns and indexes took
 * 1.23 s, the partitioned table without foreign keys or keys 1.48 s, with its seven foreign keys
 * 1.84 s. Every index of custody_events is kept because a query reads through it:
 *   - primary key (id): the partition key; sealing and archive ranges;
 *   - custody_events_event_id: an event by its id (custodyEvent, inclusionProof, bundles, duplicates);
 *   - custody_events_shipment (shipment_id, occurred_at_ms, id): timelines and the custody rules;
 *   - custody_events_pending (id) WHERE batch_seq IS NULL: the sealer's next events, the audit's SLA check;
 *   - custody_events_batch (batch_seq): a batch's events (audit, batch queries);
 *   - custody_events_signer (signer, occurred_at_ms): custodyEvents by signing key, a key's last use;
 *   - custody_events_signer_org (signer_organization_id, occurred_at_ms): custodyEvents by organization;
 *   - custody_events_custodian (custodian_id, occurred_at_ms): the access scope of a custodian (principal.ts);
 *   - custody_events_type (event_type, occurred_at_ms): custodyEvents by type over time (deliveries of a day);
 *   - custody_events_corrects (unique, partial): one correction per event;
 *   - custody_events_delegation (partial): events that relied on a delegation (revocation checks).
 */
/**
 * The trigger on one table of custody_events: the parent, and every partition, because a
 * statement that writes straight into a partition fires the partition's statement triggers, not
 * the parent's (src/database/partitions.ts adds it to every range it makes).
 */
export function claimKeysTrigger(table: string): string {
  return `CREATE TRIGGER custody_event_keys_claim AFTER INSERT ON ${table} REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION custody_event_keys_claim()`;
}

/**
 * Both directions first lock custody_events in ACCESS EXCLUSIVE mode: the parent, then every
 * partition, the order every reader and writer takes them in. Without it DROP TRIGGER took the
 * parent in ACCESS SHARE mode only, locked the partitions' triggers and came back for the parent,
 * and DROP FUNCTION … CASCADE locked partitions before the parent: a replica reading the ledger
 * during a rolling upgrade (a sealer's check) held the parent and waited for a partition, a cycle
 * PostgreSQL broke by aborting the migration (test/chaos/migration-lock-order). Now a reader in
 * progress makes the migration wait for it, and readers after it wait for the migration.
 */
const LOCK_EVENTS = `LOCK TABLE custody_events IN ACCESS EXCLUSIVE MODE`;

export class StatementKeyTrigger1764740000000 implements MigrationInterface {
  name = 'StatementKeyTrigger1764740000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(LOCK_EVENTS);
    await q.query(`DROP TRIGGER custody_event_keys_insert ON custody_events`);
    await q.query(`DROP FUNCTION custody_event_keys_insert()`);
    await q.query(`CREATE FUNCTION custody_event_keys_claim() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE clash record;
      BEGIN
        INSERT INTO custody_event_keys (event_id, id, leaf, corrects_event_id)
          SELECT event_id, id, leaf, corrects_event_id FROM inserted ON CONFLICT DO NOTHING;
        SELECT n.event_id, n.leaf INTO clash FROM inserted n
         WHERE NOT EXISTS (SELECT 1 FROM custody_event_keys k WHERE k.event_id = n.event_id AND k.id = n.id AND k.leaf = n.leaf AND k.corrects_event_id IS NOT DISTINCT FROM n.corrects_event_id)
         LIMIT 1;
        IF FOUND THEN
          RAISE unique_violation USING MESSAGE = format('custody event %s (leaf %s) repeats an event id, leaf or correction already in custody_event_keys', clash.event_id, clash.leaf),
            CONSTRAINT = 'custody_event_keys_pkey';
        END IF;
        RETURN NULL;
      END $$`);
    const partitions = (await q.query(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'custody_events'::regclass`)) as Array<{ name: string }>;
    for (const table of ['custody_events', ...partitions.map((p) => p.name)]) await q.query(claimKeysTrigger(table));
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(LOCK_EVENTS);
    await q.query(`DROP FUNCTION custody_event_keys_claim() CASCADE`);
    await q.query(`CREATE FUNCTION custody_event_keys_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO custody_event_keys (event_id, id, leaf, corrects_event_id) VALUES (NEW.event_id, NEW.id, NEW.leaf, NEW.corrects_event_id) ON CONFLICT DO NOTHING;
        IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM custody_event_keys k WHERE k.id = NEW.id AND k.event_id = NEW.event_id AND k.leaf = NEW.leaf AND k.corrects_event_id IS NOT DISTINCT FROM NEW.corrects_event_id) THEN
          RAISE unique_violation USING MESSAGE = format('custody event %s (leaf %s) repeats an event id, leaf or correction already in custody_event_keys', NEW.event_id, NEW.leaf),
            CONSTRAINT = 'custody_event_keys_pkey';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER custody_event_keys_insert BEFORE INSERT ON custody_events FOR EACH ROW EXECUTE FUNCTION custody_event_keys_insert()`);
  }
}
