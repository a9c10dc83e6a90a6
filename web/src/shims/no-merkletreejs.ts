// The verifier needs only rootFromProof (src/batching/merkle.ts, over the shared keccak); the
// merkletreejs reference tree the service builds with is not shipped to browsers.
export class MerkleTree {
  constructor() {
    throw new Error('merkletreejs is not part of the browser verifier');
  }
}
