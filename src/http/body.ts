import type http from 'node:http';
import { ApiError } from '../errors';

/** A body past the route's limit: answered 413, and the connection closed. */
export const bodyTooLarge = () => new ApiError('BAD_USER_INPUT', 'The request body is too large', {}, { status: 413 });

/**
 * Reads a request body of at most `limit` bytes; calls `done` once, with {@link bodyTooLarge}
 * past the limit (declared or sent), or with the stream's error.
 */
export function readBodyThen(req: http.IncomingMessage, limit: number, done: (err: Error | null, text: string) => void): void {
  let settled = false;
  const settle = (err: Error | null, text = '') => {
    if (settled) return;
    settled = true;
    done(err, text);
  };
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    settle(bodyTooLarge());
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      settle(bodyTooLarge());
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => settle(null, (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8')));
  req.on('error', (err) => settle(err));
}

export const readBody = (req: http.IncomingMessage, limit: number): Promise<string> =>
  new Promise((resolve, reject) => readBodyThen(req, limit, (err, text) => (err ? reject(err) : resolve(text))));

/**
 * How deeply a JSON body's values may nest. GraphQL input types of this API nest a few levels;
 * deeper values are no request of ours, and walking them (hashing variables for idempotency)
 * would exhaust the stack.
 */
export const MAX_JSON_DEPTH = 32;

/** Parses a JSON body: a 400 answer for text that is not JSON, or nests deeper than {@link MAX_JSON_DEPTH}. */
export function parseJsonBody(text: string): unknown {
  if (text === '') return {};
  // nesting is measured on the text, before the parser builds anything
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) throw new ApiError('BAD_USER_INPUT', `The body nests deeper than ${MAX_JSON_DEPTH} levels`, {}, { status: 400 });
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError('BAD_USER_INPUT', 'The body is not valid JSON', {}, { status: 400 });
  }
}
