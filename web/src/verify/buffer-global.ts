import { Buffer } from 'buffer';

// merkletreejs and the recovery code use Node's Buffer; the browser gets the maintained polyfill
const g = globalThis as { Buffer?: unknown };
if (!g.Buffer) g.Buffer = Buffer;
