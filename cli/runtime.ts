// What every command needs: the client from --url/--token (or QCKEYS_URL/QCKEYS_TOKEN), output
// in tables or JSON, and the Idempotency-Key of this invocation's mutation.
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { createClient, type Client } from '../client/index';
import { UsageError } from './util';

export const DEFAULT_URL = 'http://localhost:4000/graphql';

export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
  idempotencyKey?: string;
}

export interface Runtime {
  client: Client;
  url: string;
  /** Whether a token was given at all (for a hint on UNAUTHENTICATED). */
  hasToken: boolean;
  json: boolean;
  /** The Idempotency-Key sent with this invocation's mutation. */
  idempotencyKey(): string;
  /**
   * Writes to stdout: `value` as JSON with --json, else the text `human()` returns. Rejects with
   * StdoutClosedError when nobody reads stdout any more (`qckeys keys list | head -1`).
   */
  print(value: unknown, human: () => string): Promise<void>;
  /**
   * Like print, for output that holds a new secret of key `apiKeyId` (`text` replaces both with
   * --secret-only): when it cannot be written, rejects with SecretNotWrittenError.
   */
  printSecret(change: SecretChange, value: unknown, human: () => string, text?: string): Promise<void>;
}

/** stdout was closed by its reader: the command ends quietly (exit 0), its output unread. */
export class StdoutClosedError extends Error {}

export interface SecretChange {
  apiKeyId: string;
  /** What happened to the key: `created`, `renewed`. */
  verb: string;
}

/** A key was changed but its new secret could not be written: the secret is lost. */
export class SecretNotWrittenError extends Error {
  readonly code = 'SECRET_NOT_WRITTEN';
  constructor(readonly change: SecretChange, reason: string) {
    super(`Key ${change.apiKeyId} was ${change.verb}, but its new secret could not be written to stdout (${reason}) and is not shown again. `
      + `Renew the key to get a new secret: qckeys keys renew ${change.apiKeyId}`);
  }
}

/** Writes `text` to stdout and waits until it is written. */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null) => {
      if (!err) return resolve();
      const code = (err as NodeJS.ErrnoException).code;
      reject(code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' ? new StdoutClosedError(code) : err);
    };
    if (process.stdout.destroyed) return done(Object.assign(new Error('stdout is closed'), { code: 'ERR_STREAM_DESTROYED' }));
    process.stdout.write(text, done);
  });
}

export function runtime(command: Command, env: NodeJS.ProcessEnv = process.env): Runtime {
  const opts = command.optsWithGlobals<GlobalOptions>();
  const url = opts.url ?? (env.QCKEYS_URL?.trim() || DEFAULT_URL);
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--url / QCKEYS_URL must be an http(s) URL (got ${JSON.stringify(url)})`);
  const token = opts.token ?? (env.QCKEYS_TOKEN?.trim() || undefined);
  const json = opts.json === true;
  let key: string | undefined;
  return {
    client: createClient({ url, token }),
    url,
    hasToken: token !== undefined,
    json,
    idempotencyKey() {
      if (key === undefined) {
        key = opts.idempotencyKey ?? (env.QCKEYS_IDEMPOTENCY_KEY || randomUUID());
        if (key.length < 1 || key.length > 255) throw new UsageError('--idempotency-key / QCKEYS_IDEMPOTENCY_KEY must be 1 to 255 characters');
      }
      return key;
    },
    print(value, human) {
      return writeStdout((json ? JSON.stringify(value, null, 2) : human()) + '\n');
    },
    async printSecret(change, value, human, text) {
      try {
        await (text === undefined ? this.print(value, human) : writeStdout(text + '\n'));
      } catch (err) {
        throw new SecretNotWrittenError(change, err instanceof StdoutClosedError ? `${err.message}: stdout is closed` : err instanceof Error ? err.message : String(err));
      }
    },
  };
}
