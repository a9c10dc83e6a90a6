/** Writes src/schema.gql (committed, so every API change shows in review). Usage: npm run schema */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildSchemaSdl } from '../src/schema';

buildSchemaSdl().then((sdl) => {
  const out = path.join(__dirname, '..', 'src', 'schema.gql');
  writeFileSync(out, sdl);
  console.log(`wrote ${out}`);
});
