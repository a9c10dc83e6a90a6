import path from 'node:path';
import type { AddressInfo } from 'node:net';

interface JsonRpcServer {
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * A Hardhat node as an outside party runs it: served over HTTP on its own port, stoppable and
 * restartable on the same port (the chain's state lives on in this process meanwhile).
 */
export class ExternalNode {
  private server: JsonRpcServer | undefined;
  port = 0;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  readonly hre = (process.env.HARDHAT_CONFIG ??= path.resolve(__dirname, '../../hardhat.config.ts'), require('hardhat') as typeof import('hardhat'));

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { TASK_NODE_CREATE_SERVER } = require('hardhat/builtin-tasks/task-names') as { TASK_NODE_CREATE_SERVER: string };
    this.server = (await this.hre.run(TASK_NODE_CREATE_SERVER, { hostname: '127.0.0.1', port: this.port, provider: this.hre.network.provider })) as JsonRpcServer;
    this.port = (await this.server.listen()).port;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }
}
