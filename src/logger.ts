import pino, { type DestinationStream, type Logger } from 'pino';

/** Structured JSON logs; credentials are redacted wherever they could appear. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'qckeys' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'secret', '*.secret', 'key', '*.key', 'token'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
