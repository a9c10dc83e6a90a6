import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The width of a range, in ingestion ids (custody_events.id). Fixed here; src/database/partitions.ts uses the same. */
const WIDTH = 1_000_000;

/**
 * Partitions (issue 10, past one machine): custody_events and merkle_proofs become declaratively
 * partitioned tables, PARTITION BY RANGE on the ingestion id (custody_events.id, and the new
 * merkle_proofs.event_row_id, the id of the proof's event), in ranges of 1,000,000 ids:
 * `<table>_p<k>` holds ids [k·W, (k+1)·W), `<table>_tail` everything from the last range on (to
 * MAXVALUE), so no insert ever fails for want of a partition. The sealer keeps one empty range
 * ahead of the newest id (src/database/partitions.ts). An event and its proof always share the
 * range number, so a range is archived as one unit; sealing takes events in id order, so old
 * ranges are fully sealed and FINAL first (the only ones that may be detached).
 *
 * Why the id and not received_at or the batch: it is known at insert (pending events have no
 * batch), it never changes, and it orders like time; a range ends when the ids move past it.
 *
 * Global uniqueness: PostgreSQL enforces a unique key on a partitioned table only if it includes
 * the partition key. PRIMARY KEY (id) does; event_id, leaf and the one-correction-per-event rule
 * would only be unique per partition. They move to custody_event_keys (not partitioned, one narrow
 * row per event, kept when a range is archived: an archived event id can never be used again),
 * filled by a row trigger BEFORE INSERT on custody_events (row triggers are cloned to every
 * partition, so a row written straight into a partition is checked too) and kept in step by an
 * update trigger. The foreign keys that referenced custody_events(event_id) (event_evidence,
 * event_data, personal_data, merkle_proofs, corrections) now reference custody_event_keys.
 * merkle_proofs: PRIMARY KEY (event_row_id) with (event_row_id, event_id) referencing the key row;
 * (batch_seq, leaf_index) cannot be unique across partitions (a batch may span two ranges) and is
 * a plain index: the sealer writes a batch's proofs in one statement, and the anchor audit
 * recomputes every batch from its rows.
 *
 * Citus (when one server is not enough): the distribution column would be shipment_id for
 * custody_events, with PRIMARY KEY (shipment_id, id) (Citus needs the distribution column in every
 * unique key), and event_evidence, event_data, personal_data and merkle_proofs would gain a
 * shipment_id and be co-located with it. custody_event_keys would be distributed by event_id on
 * its own; its foreign keys from the co-located event tables would then cross shards and have to
 * go (checked by ingestion, which writes both in one transaction), and the trigger would become an
 * explicit INSERT in ingestion. Nothing here adds a cross-shard key beyond those.
 */
export class Partitions1764720000000 implements MigrationInterface {
  name = 'Partitions1764720000000';

  public async up(q: QueryRunner): Promise<void> {
    const [{ top }] = (await q.query(`SELECT coalesce(max(id), 0)::text AS top FROM custody_events`)) as Array<{ top: string }>;
    const ranges = Math.floor(Number(top) / WIDTH) + 2; // the ranges in use, and the next one

    await q.query(`CREATE TABLE custody_event_keys (
      event_id text PRIMARY KEY,
      id bigint NOT NULL,
      leaf text NOT NULL,
      corrects_event_id text REFERENCES custody_event_keys(event_id),
      CONSTRAINT custody_event_keys_row UNIQUE (id, event_id),
      CONSTRAINT custody_event_keys_leaf UNIQUE (leaf)
    )`);
    // an event is corrected at most once (was custody_events_corrects)
    await q.query(`CREATE UNIQUE INDEX custody_event_keys_corrects ON custody_event_keys (corrects_event_id) WHERE corrects_event_id IS NOT NULL`);
    await q.query(`INSERT INTO custody_event_keys (event_id, id, leaf, corrects_event_id) SELECT event_id, id, leaf, corrects_event_id FROM custody_events`);
    for (const table of ['event_evidence', 'event_data', 'personal_data']) {
      await q.query(`ALTER TABLE ${table} DROP CONSTRAINT ${table}_event_id_fkey, ADD FOREIGN KEY (event_id) REFERENCES custody_event_keys(event_id)`);
    }
    await q.query(`ALTER TABLE merkle_proofs DROP CONSTRAINT merkle_proofs_event_id_fkey`);
    await q.query(`ALTER TABLE custody_events DROP CONSTRAINT custody_events_corrects_event_id_fkey`);

    // custody_events: a partitioned copy with the same columns, in the same order, and the same checks
    await q.query(`ALTER TABLE custody_events RENAME TO custody_events_unpartitioned`);
    await q.query(`CREATE TABLE custody_events (LIKE custody_events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY) PARTITION BY RANGE (id)`);
    await createRanges(q, 'custody_events', ranges);
    await q.query(`INSERT INTO custody_events OVERRIDING SYSTEM VALUE SELECT * FROM custody_events_unpartitioned`);
    await q.query(`DROP TABLE custody_events_unpartitioned`);
    await renameIdentity(q);
    await q.query(`ALTER TABLE custody_events ADD PRIMARY KEY (id)`);
    await addEventForeignKeys(q);
    await q.query(`CREATE INDEX custody_events_event_id ON custody_events (event_id)`);
    await q.query(`CREATE INDEX custody_events_corrects ON custody_events (corrects_event_id) WHERE corrects_event_id IS NOT NULL`);
    await addEventIndexes(q);
    await q.query(`CREATE FUNCTION custody_event_keys_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO custody_event_keys (event_id, id, leaf, corrects_event_id) VALUES (NEW.event_id, NEW.id, NEW.leaf, NEW.corrects_event_id) ON CONFLICT DO NOTHING;
        -- the same row moved between partitions (partition maintenance) keeps its key; anything else is a second use
        IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM custody_event_keys k WHERE k.id = NEW.id AND k.event_id = NEW.event_id AND k.leaf = NEW.leaf AND k.corrects_event_id IS NOT DISTINCT FROM NEW.corrects_event_id) THEN
          RAISE unique_violation USING MESSAGE = format('custody event %s (leaf %s) repeats an event id, leaf or correction already in custody_event_keys', NEW.event_id, NEW.leaf),
            CONSTRAINT = 'custody_event_keys_pkey';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER custody_event_keys_insert BEFORE INSERT ON custody_events FOR EACH ROW EXECUTE FUNCTION custody_event_keys_insert()`);
    await q.query(`CREATE FUNCTION custody_event_keys_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE custody_event_keys SET event_id = NEW.event_id, leaf = NEW.leaf, corrects_event_id = NEW.corrects_event_id WHERE id = OLD.id AND event_id = OLD.event_id;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER custody_event_keys_update AFTER UPDATE OF event_id, leaf, corrects_event_id ON custody_events FOR EACH ROW EXECUTE FUNCTION custody_event_keys_update()`);

    // merkle_proofs: partitioned by its event's id, so an event and its proof share a range
    await q.query(`ALTER TABLE merkle_proofs RENAME TO merkle_proofs_unpartitioned`);
    await q.query(`CREATE TABLE merkle_proofs (
      event_id text NOT NULL,
      batch_seq bigint NOT NULL,
      leaf_index integer NOT NULL CHECK (leaf_index >= 0),
      proof text[] NOT NULL,
      event_row_id bigint NOT NULL
    ) PARTITION BY RANGE (event_row_id)`);
    await createRanges(q, 'merkle_proofs', ranges);
    await q.query(`INSERT INTO merkle_proofs (event_id, batch_seq, leaf_index, proof, event_row_id)
      SELECT p.event_id, p.batch_seq, p.leaf_index, p.proof, k.id FROM merkle_proofs_unpartitioned p JOIN custody_event_keys k ON k.event_id = p.event_id`);
    await q.query(`DROP TABLE merkle_proofs_unpartitioned`);
    await q.query(`ALTER TABLE merkle_proofs ADD PRIMARY KEY (event_row_id),
      ADD FOREIGN KEY (event_row_id, event_id) REFERENCES custody_event_keys(id, event_id),
      ADD FOREIGN KEY (batch_seq) REFERENCES anchor_batches(seq)`);
    await q.query(`CREATE INDEX merkle_proofs_event_id ON merkle_proofs (event_id)`);
    await q.query(`CREATE INDEX merkle_proofs_batch ON merkle_proofs (batch_seq, leaf_index)`);

    // ranges detached for archive (their tables stay in the schema until the operator moves them)
    await q.query(`CREATE TABLE archived_partitions (
      name text PRIMARY KEY,
      range_from bigint NOT NULL,
      range_to bigint NOT NULL,
      events integer NOT NULL,
      proofs integer NOT NULL,
      detached_at timestamptz NOT NULL DEFAULT now()
    )`);
  }

  public async down(q: QueryRunner): Promise<void> {
    const archived = (await q.query(`SELECT name FROM archived_partitions ORDER BY range_from`)) as Array<{ name: string }>;
    if (archived.length > 0) {
      throw new Error(`ranges ${archived.map((a) => a.name).join(', ')} are detached for archive; attach them again (npm run partitions -- attach <name>) before migrating down, or their events would be lost`);
    }
    await q.query(`DROP TABLE archived_partitions`);

    await q.query(`ALTER TABLE custody_events RENAME TO custody_events_partitioned`);
    await q.query(`CREATE TABLE custody_events (LIKE custody_events_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)`);
    await q.query(`INSERT INTO custody_events OVERRIDING SYSTEM VALUE SELECT * FROM custody_events_partitioned`);
    await q.query(`ALTER TABLE merkle_proofs RENAME TO merkle_proofs_partitioned`);
    await q.query(`CREATE TABLE merkle_proofs (
      event_id text NOT NULL,
      batch_seq bigint NOT NULL,
      leaf_index integer NOT NULL CHECK (leaf_index >= 0),
      proof text[] NOT NULL
    )`);
    await q.query(`INSERT INTO merkle_proofs (event_id, batch_seq, leaf_index, proof) SELECT event_id, batch_seq, leaf_index, proof FROM merkle_proofs_partitioned`);
    await q.query(`DROP TABLE merkle_proofs_partitioned`);
    await q.query(`DROP TABLE custody_events_partitioned`);
    await q.query(`DROP FUNCTION custody_event_keys_insert()`);
    await q.query(`DROP FUNCTION custody_event_keys_update()`);
    await renameIdentity(q);
    await q.query(`ALTER TABLE custody_events ADD PRIMARY KEY (id), ADD UNIQUE (event_id), ADD UNIQUE (leaf)`);
    await addEventForeignKeys(q);
    await q.query(`ALTER TABLE custody_events ADD FOREIGN KEY (corrects_event_id) REFERENCES custody_events(event_id)`);
    await q.query(`CREATE UNIQUE INDEX custody_events_corrects ON custody_events (corrects_event_id) WHERE corrects_event_id IS NOT NULL`);
    await addEventIndexes(q);
    await q.query(`ALTER TABLE merkle_proofs ADD PRIMARY KEY (event_id), ADD FOREIGN KEY (event_id) REFERENCES custody_events(event_id),
      ADD FOREIGN KEY (batch_seq) REFERENCES anchor_batches(seq), ADD UNIQUE (batch_seq, leaf_index)`);
    for (const table of ['event_evidence', 'event_data', 'personal_data']) {
      await q.query(`ALTER TABLE ${table} DROP CONSTRAINT ${table}_event_id_fkey, ADD FOREIGN KEY (event_id) REFERENCES custody_events(event_id)`);
    }
    await q.query(`DROP TABLE custody_event_keys`);
  }
}

/** Ranges p0..p(n-1) and the open tail after them. */
async function createRanges(q: QueryRunner, table: string, ranges: number): Promise<void> {
  for (let k = 0; k < ranges; k++) await q.query(`CREATE TABLE ${table}_p${k} PARTITION OF ${table} FOR VALUES FROM (${k * WIDTH}) TO (${(k + 1) * WIDTH})`);
  await q.query(`CREATE TABLE ${table}_tail PARTITION OF ${table} FOR VALUES FROM (${ranges * WIDTH}) TO (MAXVALUE)`);
}

/** The rebuilt table's identity sequence: the old name, and on from the highest id. */
async function renameIdentity(q: QueryRunner): Promise<void> {
  const [{ seq }] = (await q.query(`SELECT pg_get_serial_sequence('custody_events', 'id') AS seq`)) as Array<{ seq: string }>;
  await q.query(`ALTER SEQUENCE ${seq} RENAME TO custody_events_id_seq`);
  await q.query(`SELECT setval('custody_events_id_seq', coalesce((SELECT max(id) FROM custody_events), 1), (SELECT max(id) FROM custody_events) IS NOT NULL)`);
}

/** The foreign keys of custody_events to other tables, with their original (generated) names. */
async function addEventForeignKeys(q: QueryRunner): Promise<void> {
  await q.query(`ALTER TABLE custody_events
    ADD FOREIGN KEY (shipment_id) REFERENCES shipments(id),
    ADD FOREIGN KEY (custodian_id) REFERENCES organizations(id),
    ADD FOREIGN KEY (signer) REFERENCES signing_keys(address),
    ADD FOREIGN KEY (counter_signer) REFERENCES signing_keys(address),
    ADD FOREIGN KEY (batch_seq) REFERENCES anchor_batches(seq),
    ADD FOREIGN KEY (signer_organization_id) REFERENCES organizations(id),
    ADD FOREIGN KEY (delegation_id) REFERENCES custody_delegations(delegation_id)`);
}

/** The secondary indexes both layouts share. */
async function addEventIndexes(q: QueryRunner): Promise<void> {
  await q.query(`CREATE INDEX custody_events_shipment ON custody_events (shipment_id, occurred_at_ms, id)`);
  await q.query(`CREATE INDEX custody_events_pending ON custody_events (id) WHERE batch_seq IS NULL`);
  await q.query(`CREATE INDEX custody_events_batch ON custody_events (batch_seq)`);
  await q.query(`CREATE INDEX custody_events_signer ON custody_events (signer, occurred_at_ms)`);
  await q.query(`CREATE INDEX custody_events_signer_org ON custody_events (signer_organization_id, occurred_at_ms)`);
  await q.query(`CREATE INDEX custody_events_custodian ON custody_events (custodian_id, occurred_at_ms)`);
  await q.query(`CREATE INDEX custody_events_type ON custody_events (event_type, occurred_at_ms)`);
  await q.query(`CREATE INDEX custody_events_delegation ON custody_events (delegation_id) WHERE delegation_id IS NOT NULL`);
}
