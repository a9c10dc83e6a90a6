import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/**
 * The pages are a Preact app built by Vite into web/dist and served by the service itself
 * (src/web/web.module.ts). The in-browser verifier is the service's own src/proofs/bundle-verifier.ts,
 * bundled as a separate chunk loaded when a visitor presses "Verify"; the only node-only module
 * it reaches, the worker-pool signature verifier, is swapped for a browser one over the same
 * recovery code (src/signing/secp256k1-recover.js, pure-JS @noble/curves path).
 */
export default defineConfig({
  root: here('.'),
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // the verifier chunk carries ethers and the protocol code: loaded on demand only
    chunkSizeWarningLimit: 700,
  },
  define: {
    'process.env.CUSTODY_SECP256K1': JSON.stringify('js'),
  },
  resolve: {
    alias: [
      { find: /^\.\.\/signing\/signature-verifier$/, replacement: here('./src/shims/signature-verifier.ts') },
      { find: /^secp256k1\/bindings$/, replacement: here('./src/shims/no-native.ts') },
      { find: /^merkletreejs$/, replacement: here('./src/shims/no-merkletreejs.ts') },
    ],
  },
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
});
