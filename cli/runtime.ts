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
  /** Writes to stdout: `value` as JSON with --json, else the text `human()` returns. */
  print(value: unknown, human: () => string): void;
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
      process.stdout.write((json ? JSON.stringify(value, null, 2) : human()) + '\n');
    },
  };
}
