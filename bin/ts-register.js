// `npm start`'s TypeScript loader (node -r ./bin/ts-register.js src/main.ts): what ts-node's
// transpile-only mode does (TypeScript's transpileModule with tsconfig.json's options, one file at
// a time, no type check), with the output kept on disk. A file whose text, compiler version and
// options are unchanged is loaded from the cache without loading the compiler at all: ts-node
// spent about 3 s of every start compiling the same files again, and the compiler itself holds
// about 60 MB. Run `npm run typecheck` for the type check, as before.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const ROOT = path.resolve(__dirname, '..');
const CACHE = process.env.TS_CACHE_DIR || path.join(ROOT, 'node_modules', '.cache', 'custody-ledger-ts');
const LOADER_VERSION = '1';

let compiler = null;
/** The compiler and the project's options, loaded on the first file not in the cache. */
function load() {
  if (compiler) return compiler;
  const ts = require('typescript');
  const configFile = path.join(ROOT, 'tsconfig.json');
  const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(configFile, ts.sys.readFile).config, ts.sys, ROOT);
  const options = { ...parsed.options, sourceMap: false, inlineSourceMap: true, inlineSources: false, declaration: false, noEmit: false, module: ts.ModuleKind.CommonJS };
  compiler = { ts, options };
  return compiler;
}

// what the output depends on besides the file's text: the compiler's version and tsconfig.json
const salt = (() => {
  const tsVersion = JSON.parse(fs.readFileSync(require.resolve('typescript/package.json'), 'utf8')).version;
  return `${LOADER_VERSION}\0${tsVersion}\0${fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')}`;
})();

function compile(source, filename) {
  const key = crypto.createHash('sha256').update(salt).update('\0').update(filename).update('\0').update(source).digest('hex');
  const cached = path.join(CACHE, key.slice(0, 2), `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // not compiled yet
  }
  const { ts, options } = load();
  const { outputText } = ts.transpileModule(source, { compilerOptions: options, fileName: filename, reportDiagnostics: false });
  try {
    fs.mkdirSync(path.dirname(cached), { recursive: true });
    // written under a temporary name and renamed: a concurrent start never reads half a file
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, outputText);
    fs.renameSync(tmp, cached);
  } catch {
    // a read-only checkout still starts, compiling every time
  }
  return outputText;
}

if (!require.extensions['.ts']) {
  require.extensions['.ts'] = function loadTypeScript(module, filename) {
    if (filename.includes(`${path.sep}node_modules${path.sep}`)) throw new Error(`not loading TypeScript from node_modules: ${filename}`);
    module._compile(compile(fs.readFileSync(filename, 'utf8'), filename), filename);
  };
  // stack traces point into the .ts files (the inline source maps)
  process.setSourceMapsEnabled(true);
}
