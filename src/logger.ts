import pino, { type Logger } from 'pino';

/** Structured JSON logs; credentials are redacted wherever they could appear. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'qckeys' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'secret', '*.secret', 'key', '*.key', 'token'],
      censor: '[redacted]',
    },
  });
}
