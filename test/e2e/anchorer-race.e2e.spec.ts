import { AnchorerService } from '../../src/anchoring/anchorer.service';
import { startTestLedger, type TestLedger } from '../support/test-ledger';

/**
 * Issue 10: `AnchorerService.settle()` ran a tick outside the guard that keeps ticks apart, so the
 * timer's tick could run beside it: two ticks sending transactions from one account at once (one
 * benchmark run died with NONCE_EXPIRED). Counted on the real service: never two ticks at a time.
 */
describe('the anchorer never runs two ticks at once (issue 10)', () => {
  let t: TestLedger;

  beforeAll(async () => {
    t = await startTestLedger({ ANCHORER_INTERVAL_MS: '600000' });
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('settle() and the timer\'s nudge() in the same moment run one tick after the other', async () => {
    const anchorer = t.ledger.app.get(AnchorerService);
    const proto = AnchorerService.prototype as unknown as { tick: () => Promise<void> };
    const original = proto.tick;
    let running = 0;
    let most = 0;
    let ticks = 0;
    const spy = jest.spyOn(proto, 'tick').mockImplementation(async function (this: unknown) {
      running++;
      ticks++;
      most = Math.max(most, running);
      try {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return await original.call(this);
      } finally {
        running--;
      }
    });
    try {
      const settled = anchorer.settle();
      anchorer.nudge(); // the timer fires while settle() runs
      await settled;
      anchorer.nudge();
      await anchorer.settle();
      expect(ticks).toBeGreaterThanOrEqual(2);
      expect(most).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });
});
