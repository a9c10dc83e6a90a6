import './buffer-global';
export { verifyProofBundle, VERIFICATION_CHECKS } from '../../../src/proofs/bundle-verifier';
export type { VerificationReport, VerificationFailure, VerificationCheck, Verdict } from '../../../src/proofs/bundle-verifier';
