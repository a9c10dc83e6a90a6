// Once before any test file (jest's globalSetup): the browser tests run against the built web
// pages, so build them when web/ changed since the last build. Done here and not in each worker:
// two workers building into web/dist at once would delete each other's files.
const { buildWeb } = require('../scripts/build-web.js');

module.exports = async () => {
  if (buildWeb({ ifStale: true, quiet: true }) !== 0) throw new Error('the web pages did not build: run `npm run build:web` to see why');
};
