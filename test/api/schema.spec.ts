import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSchemaSdl } from '../../src/schema';

describe('GraphQL schema', () => {
  it('matches the committed src/schema.gql (run `npm run schema` after changing the API)', async () => {
    const committed = readFileSync(path.join(__dirname, '../../src/schema.gql'), 'utf8');
    expect(await buildSchemaSdl()).toBe(committed);
  });

  it('carries occurredAt as the Uint64 decimal-string scalar and mirrors the signed fields in the event input', async () => {
    const sdl = await buildSchemaSdl();
    const input = /input SignedCustodyEventInput \{([\s\S]*?)\n\}/.exec(sdl)![1];
    const fields = [...input.matchAll(/^\s+(\w+): /gm)].map((m) => m[1]).sort();
    expect(fields).toEqual(
      // the 13 signed fields, the signature(s), and three unsigned attachments whose hashes are signed
      ['accuracyM', 'carrier', 'counterSignature', 'custodian', 'dataHash', 'eventId', 'eventType', 'evidenceHash', 'latE6', 'locationCode', 'lonE6', 'occurredAt', 'scanMethod', 'signature', 'trackingNumber', 'evidence', 'extraData', 'personalData'].sort(),
    );
    expect(input).toMatch(/occurredAt: Uint64!/);
    expect(sdl).toMatch(/"""\s*Unsigned 64-bit integer as a decimal string/);
  });
});
