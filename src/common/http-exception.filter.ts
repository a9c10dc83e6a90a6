import { randomUUID } from 'node:crypto';
import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';

const logger = new Logger('HTTP');

/**
 * Errors that happen before GraphQL runs (body parsing, size limit, unknown routes) get the same
 * GraphQL-shaped answer with a code, so a client handles every error one way; anything
 * unexpected is logged with a correlation id and answered with that id only.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): unknown {
    if (host.getType<string>() !== 'http') return error;
    const res = host.switchToHttp().getResponse<{ headersSent: boolean; status(code: number): { json(body: unknown): void } }>();
    if (res.headersSent) return undefined;
    const { status, code, message } = classify(error);
    if (status >= 500) {
      const correlationId = randomUUID();
      logger.error(`internal error ${correlationId}: ${(error as Error)?.stack ?? String(error)}`);
      res.status(status).json({ errors: [{ message: `internal error; quote correlation id ${correlationId} when reporting it`, extensions: { code, correlationId } }] });
      return undefined;
    }
    res.status(status).json({ errors: [{ message, extensions: { code } }] });
    return undefined;
  }
}

function classify(error: unknown): { status: number; code: string; message: string } {
  const type = (error as { type?: string })?.type ?? ((error as { cause?: { type?: string } })?.cause?.type) ?? (error instanceof HttpException && error.getStatus() === 400 && /JSON/.test(error.message) ? 'entity.parse.failed' : undefined);
  if (type === 'entity.parse.failed') return { status: 400, code: 'MALFORMED_JSON', message: 'the request body is not valid JSON' };
  if (type === 'entity.too.large') return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'the request body is larger than MAX_BODY_BYTES; send fewer events per call' };
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return { status: 415, code: 'UNSUPPORTED_ENCODING', message: 'send the body as UTF-8 JSON' };
  if ((error as { expose?: boolean; status?: number })?.expose === true && (error as { status?: number }).status === 400) return { status: 400, code: 'MALFORMED_JSON', message: 'the request body could not be read: send JSON, uncompressed or with a matching Content-Encoding' };
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const body = error.getResponse() as { code?: string; message?: string } | string;
    if (typeof body === 'object' && body.code) return { status, code: body.code, message: body.message ?? error.message };
    return { status, code: status === 404 ? 'NOT_FOUND' : status === 400 ? 'BAD_REQUEST' : `HTTP_${status}`, message: error.message };
  }
  return { status: 500, code: 'INTERNAL_SERVER_ERROR', message: 'internal error' };
}
