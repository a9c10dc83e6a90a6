import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { Signature, Wallet, hexlify, recoverAddress } from 'ethers';
import {
  custodyEventDigest,
  custodyLeaf,
  custodySigningDomain,
  custodyStructHash,
  domainSeparator,
  reference,
  signaturesHash,
  type CustodyEventFields,
} from '../../src/signing/custody-signing';
import { keccakLoaded, keccakReady } from '../../src/signing/keccak';
import { SECP256K1_BACKEND, SignaturePool, recoverSigners } from '../../src/signing/signature-verifier';

/**
 * The fast signing path (precomputed type hash, WebAssembly keccak, native libsecp256k1 in a worker
 * pool) must give exactly the bytes of the reference path through ethers: same digests, leaves,
 * signature hashes and signers, on the pinned vectors and on random inputs.
 */
const vectors = JSON.parse(readFileSync(path.join(__dirname, '../vectors/signing-v1.json'), 'utf8')) as {
  domain: { chainId: string; verifyingContract: string };
  domainSeparator: string;
  events: Array<{ event: Omit<CustodyEventFields, 'occurredAt'> & { occurredAt: string }; digest: string; signature: string; counterSignature: string | null; signer: string; counterSigner: string | null; signaturesHash: string; previousLeaf: string; leaf: string }>;
};

const hex32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b));
// any string ethers accepts, including astral characters, empty strings and long ones
const text = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constant(''));
const eventArb: fc.Arbitrary<CustodyEventFields> = fc.record({
  eventId: hex32,
  trackingNumber: text,
  carrier: text,
  eventType: text,
  custodian: text,
  occurredAt: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  latE6: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  lonE6: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  accuracyM: fc.integer({ min: 0, max: 0xffffffff }),
  locationCode: text,
  scanMethod: text,
  evidenceHash: hex32,
  dataHash: hex32,
});

beforeAll(async () => {
  await keccakReady;
});

describe('fast custody hashing equals the ethers reference', () => {
  it('loads the WebAssembly keccak, so the fast path is the one under test', () => {
    expect(keccakLoaded()).toBe(true);
  });

  it('reproduces every signing-v1 vector on the fast path', () => {
    const separator = domainSeparator(custodySigningDomain(BigInt(vectors.domain.chainId), vectors.domain.verifyingContract));
    expect(separator).toBe(vectors.domainSeparator);
    for (const v of vectors.events) {
      const fields = { ...v.event, occurredAt: BigInt(v.event.occurredAt) };
      expect(custodyEventDigest(separator, fields)).toBe(v.digest);
      expect(signaturesHash(v.signature, v.counterSignature)).toBe(v.signaturesHash);
      expect(custodyLeaf(v.digest, v.signaturesHash, v.previousLeaf)).toBe(v.leaf);
    }
  });

  it('gives the same struct hash, digest, signatures hash and leaf as ethers on random events', () => {
    fc.assert(
      fc.property(eventArb, hex32, hex32, hex32, fc.uint8Array({ minLength: 65, maxLength: 65 }), fc.option(fc.uint8Array({ minLength: 65, maxLength: 65 })), (event, separator, sigHashIn, previous, sig, counter) => {
        expect(custodyStructHash(event)).toBe(reference.custodyStructHash(event));
        expect(custodyEventDigest(separator, event)).toBe(reference.custodyEventDigest(separator, event));
        const signature = hexlify(sig);
        const counterSignature = counter === null ? null : hexlify(counter);
        expect(signaturesHash(signature, counterSignature)).toBe(reference.signaturesHash(signature, counterSignature));
        expect(custodyLeaf(separator, sigHashIn, previous)).toBe(reference.custodyLeaf(separator, sigHashIn, previous));
      }),
      { numRuns: 400, seed: 20261202 },
    );
  });

  it('leaves what ethers refuses to ethers: the same error for out-of-range values and lone surrogates', () => {
    const base = { ...vectors.events[0].event, occurredAt: 1n };
    for (const bad of [{ ...base, latE6: 2 ** 31 }, { ...base, occurredAt: 1n << 64n }, { ...base, carrier: 'a\ud800b' }, { ...base, eventId: '0x12' }]) {
      expect(() => custodyStructHash(bad)).toThrow();
      expect(() => reference.custodyStructHash(bad)).toThrow();
    }
  });
});

describe('signer recovery (native libsecp256k1 when it loads)', () => {
  const pool = new SignaturePool(2);
  afterAll(() => pool.close());

  it('uses the native binding on this machine (npm ci approved its install script)', () => {
    expect(SECP256K1_BACKEND).toBe('native libsecp256k1');
  });

  it('recovers the same signer as ethers on random keys and digests, inline and in the worker pool', async () => {
    const requests: Array<{ digest: string; signature: string }> = [];
    const expected: string[] = [];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), hex32, fc.boolean(), (key, digest, legacyV) => {
        let wallet: Wallet;
        try {
          wallet = new Wallet(hexlify(key));
        } catch {
          return; // zero or over the curve order: not a private key
        }
        const sig = wallet.signingKey.sign(digest);
        // devices may send v as 0/1 instead of 27/28
        const signature = legacyV ? sig.serialized.slice(0, 130) + (sig.v === 27 ? '00' : '01') : sig.serialized;
        requests.push({ digest, signature });
        expected.push(recoverAddress(digest, Signature.from(sig.serialized)).toLowerCase());
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(recoverSigners(requests)).toEqual(expected.map((signer) => ({ ok: true, signer })));
    expect(await pool.recover(requests)).toEqual(expected.map((signer) => ({ ok: true, signer })));
  });

  it('recovers what ethers recovered before for every v byte: 27/28, 0/1 and EIP-155 style v ≥ 35 (stored events must keep verifying), and refuses the rest', async () => {
    const wallet = Wallet.createRandom();
    const digest = hexlify(new Uint8Array(32).fill(5));
    const sig = wallet.signingKey.sign(digest);
    const requests = Array.from({ length: 256 }, (_, v) => ({ digest, signature: sig.serialized.slice(0, 130) + v.toString(16).padStart(2, '0') }));
    const expected = requests.map(({ signature }) => {
      try {
        return { ok: true, signer: recoverAddress(digest, Signature.from(signature)).toLowerCase() };
      } catch {
        return { ok: false };
      }
    });
    const strip = (r: { ok: boolean; signer?: string }) => (r.ok ? r : { ok: false });
    expect(recoverSigners(requests).map(strip)).toEqual(expected);
    expect((await pool.recover(requests)).map(strip)).toEqual(expected);
    expect(expected.filter((r) => r.ok).length).toBe(4 + 221);
  });

  it('recovers the same signers with the pure-JS fallback (no native binding: CUSTODY_SECP256K1=js)', () => {
    const wallets = Array.from({ length: 20 }, () => Wallet.createRandom());
    const requests = wallets.map((w, i) => {
      const digest = hexlify(new Uint8Array(32).fill(i + 1));
      return { digest, signature: w.signingKey.sign(digest).serialized };
    });
    requests.push({ digest: requests[0].digest, signature: requests[0].signature.slice(0, 130) + '1d' });
    const script = `const { createKeccak } = require('hash-wasm');
      const m = require(${JSON.stringify(path.join(__dirname, '../../src/signing/secp256k1-recover.js'))});
      createKeccak(256).then((h) => {
        const out = m.recoverSigners(JSON.parse(process.argv[1]), (d) => { h.init(); h.update(d); return h.digest('binary'); });
        process.stdout.write(JSON.stringify({ backend: m.backend, out }));
      });`;
    const child = spawnSync(process.execPath, ['-e', script, JSON.stringify(requests)], { env: { ...process.env, CUSTODY_SECP256K1: 'js' }, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const { backend, out } = JSON.parse(child.stdout) as { backend: string; out: unknown[] };
    expect(backend).toBe('pure JavaScript (@noble/curves)');
    expect(out).toEqual(recoverSigners(requests));
    expect(out.slice(0, 20)).toEqual(wallets.map((w) => ({ ok: true, signer: w.address.toLowerCase() })));
  });

  it('refuses the same forgeries inline and in the pool: high-s twin, bad v, r = 0, wrong length', async () => {
    const wallet = Wallet.createRandom();
    const digest = hexlify(new Uint8Array(32).fill(9));
    const sig = wallet.signingKey.sign(digest);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = '0x' + sig.r.slice(2) + (n - BigInt(sig.s)).toString(16).padStart(64, '0') + (sig.v === 27 ? '1c' : '1b');
    const forged = [
      { digest, signature: highS },
      { digest, signature: sig.serialized.slice(0, 130) + '1d' },
      { digest, signature: '0x' + '00'.repeat(32) + sig.s.slice(2) + '1b' },
      { digest, signature: sig.serialized.slice(0, 128) },
    ];
    const many = Array.from({ length: 40 }, () => forged).flat();
    for (const results of [recoverSigners(many), await pool.recover(many)]) {
      expect(results.every((r) => !r.ok)).toBe(true);
      expect(results.slice(0, 4).map((r) => (r.ok ? '' : r.reason))).toEqual([
        expect.stringContaining('high-s'),
        expect.stringContaining('v must be 27 or 28'),
        expect.stringContaining('cannot be recovered'),
        expect.stringContaining('65 bytes'),
      ]);
    }
  });
});
