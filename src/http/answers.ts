import type http from 'node:http';
import type { Logger } from 'pino';
import { ApiError, errorAnswer, internalError, JSON_TYPE, type AnswerFormat, type HttpAnswer } from '../errors';

export function jsonAnswer(status: number, value: unknown, headers: Record<string, string> = {}): HttpAnswer {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(value) };
}

/** Writes an answer. `close`: the connection ends with it (a client that sent what it may not, or more than it may). */
export function send(res: http.ServerResponse, answer: HttpAnswer, close = false): void {
  const headers: Record<string, string | number> = { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) };
  if (close) {
    headers.connection = 'close';
    // a client still sending its body is not waited for
    res.once('finish', () => { if (!res.req.complete) res.req.socket.destroy(); });
  }
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

/** Answers with an error; a 401 or 413 closes the connection. */
export function sendError(res: http.ServerResponse, format: AnswerFormat, err: ApiError): void {
  const answer = errorAnswer(format, err);
  send(res, answer, answer.status === 401 || answer.status === 413);
}

/** Answers a REST route's failure: an ApiError as itself, anything else logged and answered as an internal error. */
export function sendUnexpected(logger: Logger, req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
  if (err instanceof ApiError) return sendError(res, 'rest', err);
  logger.error({ err, url: req.url }, 'request failed');
  if (!res.headersSent) sendError(res, 'rest', internalError());
  else res.destroy();
}
