import type { Server } from 'node:http';

/**
 * Counts the HTTP requests this server is answering, and drains them at shutdown: the listener
 * closes (new connections are refused), idle keep-alive connections close, answers sent meanwhile
 * carry `Connection: close`, and once the last in-flight request is answered, or `timeoutMs` has
 * passed, every remaining connection is closed.
 */
export class HttpDrain {
  private inFlight = 0;
  private idle: Array<() => void> = [];
  draining = false;

  constructor(private readonly server: Server) {
    server.on('request', (_req, res) => {
      this.inFlight++;
      if (this.draining) res.setHeader('connection', 'close');
      res.once('close', () => {
        this.inFlight--;
        if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
    });
  }

  get requests(): number {
    return this.inFlight;
  }

  /** Resolves with the number of requests still unanswered when the bound ran out (0: all answered). */
  async drain(timeoutMs: number): Promise<number> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const answered = this.inFlight === 0 ? Promise.resolve(true) : new Promise<boolean>((resolve) => this.idle.push(() => resolve(true)));
    const outOfTime = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const allAnswered = await Promise.race([answered, outOfTime]);
    clearTimeout(timer);
    const left = allAnswered ? 0 : this.inFlight;
    // what is left is idle keep-alive connections, or (past the bound) requests cut off
    this.server.closeAllConnections();
    await closed;
    return left;
  }
}
