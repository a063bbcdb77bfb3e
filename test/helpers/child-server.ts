import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createKeyWith } from '../../bench/lib/api';
import { signToken } from '../../src/auth/tokens';
import type { Role } from '../../src/auth/principal';
import { TEST_JWT_SECRET } from './server';

const ROOT = path.resolve(__dirname, '../..');

/** The service running as a process of its own (`node --import tsx src/server.ts`). */
export interface ChildServer {
  baseUrl: string;
  process: ChildProcess;
  /** Sends a signal and resolves with the exit code once the process has exited. */
  signal(signal: NodeJS.Signals): Promise<number | null>;
  /** Stops the process (SIGTERM) if it still runs. */
  stop(): Promise<void>;
  output(): string;
}

/** Starts the service as a child process and waits until it prints its URL. */
export async function startChildServer(env: Record<string, string>, timeoutMs = 20_000): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'silent',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /GraphQL at (http:\/\/\S+)\/graphql/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1].replace('localhost', '127.0.0.1'));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${output}`)); });
  });
  return {
    baseUrl,
    process: child,
    output: () => output,
    async signal(sig) {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      return exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

export function childToken(opts: { account: string | null; roles: Role[]; sub?: string }): Promise<string> {
  return signToken({ secret: TEST_JWT_SECRET, account: opts.account, roles: opts.roles, subject: opts.sub ?? 'tester', ttl: '1h' });
}

export { gqlAt } from '../../bench/lib/api';

export interface VerifyAnswer { valid: boolean; code: string; accountId?: string; keyId?: string }

export async function verifyAt(baseUrl: string, token: string, key: string, instanceId?: string): Promise<VerifyAnswer> {
  const res = await fetch(`${baseUrl}/v1/keys/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(instanceId ? { key, instanceId } : { key }),
  });
  if (res.status !== 200) throw new Error(`verify answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as VerifyAnswer;
}

/** Creates channel, instance and one key in an account through the API; returns the secret and IDs. */
export async function createKeyAt(baseUrl: string, account: string): Promise<{ id: string; secret: string; channelId: string; instanceId: string }> {
  return createKeyWith(baseUrl, await childToken({ account, roles: ['admin'] }));
}
