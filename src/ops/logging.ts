import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LoggerService, LogLevel } from '@nestjs/common';
import pino, { type Logger as Pino } from 'pino';
import { pinoHttp } from 'pino-http';
import type { AppConfig } from '../config/config';
import { routeOf, type Middleware } from './operations';

const PINO_LEVEL: Record<AppConfig['logLevel'], string> = { error: 'error', warn: 'warn', log: 'info', debug: 'debug' };

/**
 * Values that must never reach a log line, wherever they appear in a logged object: API keys,
 * private keys, share tokens, secrets and passwords. pino's redaction replaces them by
 * "[redacted]" before the line is written.
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.apiKey',
  '*.key',
  '*.token',
  '*.secret',
  '*.password',
  '*.privateKey',
  '*.adminApiKey',
];

/** Strings that look like our secrets, masked inside free-text messages too. */
const SECRET_TEXT = [/\bcl_[a-z]+_[A-Za-z0-9_-]{8,}/g, /\b0x[0-9a-fA-F]{64}\b(?=.*private)/gi, /\/t\/[A-Za-z0-9_-]{20,}/g, /\/api\/track\/[A-Za-z0-9_-]{8,}/g];
export function maskSecrets(text: string): string {
  return SECRET_TEXT.reduce((t, re) => t.replace(re, (m) => (m.startsWith('/t/') ? '/t/[redacted]' : m.startsWith('/api/track/') ? '/api/track/[redacted]' : '[redacted]')), text);
}

export function createPino(config: Pick<AppConfig, 'logLevel' | 'logFile'>): Pino {
  return pino(
    {
      level: PINO_LEVEL[config.logLevel],
      base: { service: 'custody-ledger', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: config.logFile ?? 1, sync: false, mkdir: true }),
  );
}

/** Nest's logger interface over pino: every Nest log line as JSON, with its context. */
export class JsonNestLogger implements LoggerService {
  constructor(private readonly pino: Pino) {}

  private write(level: 'info' | 'warn' | 'error' | 'debug' | 'trace', message: unknown, rest: unknown[]): void {
    const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
    const stack = level === 'error' && typeof rest[0] === 'string' && rest.length > 1 ? rest[0] : undefined;
    const text = message instanceof Error ? message.message : typeof message === 'string' ? message : JSON.stringify(message);
    this.pino[level]({ context, ...(stack ? { stack: maskSecrets(stack) } : {}) }, maskSecrets(text));
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  setLogLevels(_levels: LogLevel[]): void {}
}

const REQUEST_ID = /^[A-Za-z0-9._-]{8,128}$/;

/**
 * One JSON line per request (pino-http): its id (the caller's `X-Request-Id` when it is a
 * plain token of 8-128 characters, else a new UUID; sent back in `X-Request-Id`), method, route
 * template (never the raw URL: share tokens and event ids stay out), status and time.
 */
export function requestLogger(log: Pino): Middleware {
  return pinoHttp({
    logger: log,
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    serializers: {
      req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({ id: req.id, method: req.method, route: routeOf(req.url), remoteAddress: req.remoteAddress }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customSuccessMessage: (req, res) => `${req.method} ${routeOf((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url)} ${res.statusCode}`,
    customErrorMessage: (req, res) => `${req.method} ${routeOf((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url)} ${res.statusCode}`,
  }) as unknown as Middleware;
}
