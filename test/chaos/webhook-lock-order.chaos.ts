import { Client } from 'pg';
import { advisoryLockName } from '../../src/anchoring/leader-lock';
import { sqlRows } from '../../src/database/data-source';
import { mustGql, registerOrganization } from '../support/factories';
import { startTestLedger, type TestLedger } from '../support/test-ledger';

/**
 * Lock order of the webhook fair share (the attacker's review, not reproduced as a deadlock: the
 * window is microseconds). An attempt's bookkeeping takes its organization's advisory lock, then
 * the delivery row, then the endpoint row. Enabling or deleting an endpoint locked the endpoint
 * row, then the deliveries: the opposite order, which PostgreSQL resolves by aborting one side (the
 * bookkeeping: the delivery is sent again once its claim expires). Both now take the organization's
 * lock first. Shown here by holding that lock in another session, as a bookkeeping step in progress
 * does: the change must wait for it. PostgreSQL only (two sessions).
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('the chaos suite needs PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');

const CREATE = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id } } }`;

describe('webhook endpoint changes take the organization lock before row locks (chaos)', () => {
  let t: TestLedger;
  let organizationId: string;

  beforeAll(async () => {
    t = await startTestLedger({});
    await registerOrganization(t, 'lock-carrier', 'CARRIER');
    [{ id: organizationId }] = await sqlRows<{ id: string }>(t.ledger.runtime.dataSource, `SELECT id FROM organizations WHERE slug = 'lock-carrier'`);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  async function endpoint(): Promise<string> {
    const d = await mustGql<{ createWebhookEndpoint: { endpoint: { id: string } } }>(t, CREATE, { i: { organization: 'lock-carrier', url: 'http://127.0.0.1:9/hook', eventTypes: ['shipment.event_recorded'] } });
    await mustGql(t, `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`, { id: d.createWebhookEndpoint.endpoint.id });
    return d.createWebhookEndpoint.endpoint.id;
  }

  it.each([
    ['enableWebhookEndpoint', `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { id } }`],
    ['deleteWebhookEndpoint', `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`],
  ])('%s waits for the lock an attempt in progress holds', async (_name, mutation) => {
    const id = await endpoint();
    const holder = new Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [advisoryLockName(t.ledger.runtime.config.database, `webhook-organization:${organizationId}`)]);
      let settled = false;
      const change = mustGql(t, mutation, { id }).finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(settled).toBe(false);
      await holder.query('COMMIT');
      await change;
      expect(settled).toBe(true);
    } finally {
      await holder.end();
    }
  }, 60_000);
});
