// The PostGraphile 5 peer (bench/peers/postgraphile/): installed on demand, started in a process
// of its own, and the translation of the service's listing variables into its filter and order.
import { spawnSync, fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse, print } from 'graphql';
import { type Operation } from './documents';
import { scopeSettings } from './scope';
import type { BenchServer, ChildMessage } from './server';

export const PEER_DIR = path.resolve(__dirname, '..', 'peers', 'postgraphile');

/** `npm ci` in the peer's folder when its packages are missing (never a dependency of the service). */
export function ensurePeerInstalled(): void {
  if (fs.existsSync(path.join(PEER_DIR, 'node_modules', 'postgraphile', 'package.json'))) return;
  console.log('installing the PostGraphile peer (npm ci in bench/peers/postgraphile)…');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: PEER_DIR, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('npm ci of the PostGraphile peer failed');
}

export function peerVersion(): string {
  const read = (pkg: string) => (JSON.parse(fs.readFileSync(path.join(PEER_DIR, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  return `postgraphile ${read('postgraphile')}, postgraphile-plugin-connection-filter ${read('postgraphile-plugin-connection-filter')}`;
}

/**
 * Starts the peer on 127.0.0.1 on a random port, as the database's owner with the service's scope
 * per request; its errors go to `logFile` when given.
 */
export async function startPeer(env: { DATABASE_URL: string; JWT_SECRET: string; DB_POOL_MAX?: string }, logFile?: string): Promise<BenchServer> {
  const err = logFile ? fs.openSync(logFile, 'a') : 'inherit';
  const child = fork(path.join(PEER_DIR, 'server.mjs'), [], {
    cwd: PEER_DIR,
    execArgv: (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', HOST: '127.0.0.1', PORT: '0',
      PEER_PG_SETTINGS: JSON.stringify(scopeSettings()), ...env,
    },
    stdio: ['ignore', 'pipe', err, 'ipc'],
  });
  if (typeof err === 'number') child.once('exit', () => fs.closeSync(err));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`the peer did not start within 120 s:\n${out}`)); }, 120_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /GraphQL at (http:\/\/\S+)\/graphql/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the peer exited (${code}) before it listened:\n${out}`)); });
  });
  const waiters: ((m: ChildMessage) => void)[] = [];
  child.on('message', (m: ChildMessage) => waiters.shift()?.(m));
  return {
    baseUrl: url, verifyUrl: null, pid: child.pid ?? 0,
    async stats() {
      const reply = new Promise<ChildMessage>((resolve) => waiters.push(resolve));
      child.send({ type: 'stats' });
      const m = await reply;
      if (m.type !== 'stats') throw new Error('unexpected message from the peer');
      return m;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The peer's documents (bench/peers/postgraphile/listing.graphql), sent whole with an operationName. */
export function peerDocuments(): string {
  const source = fs.readFileSync(path.join(PEER_DIR, 'listing.graphql'), 'utf8');
  return print(parse(source));
}

interface ServiceFilter {
  search?: string; teamIds?: string[]; withoutTeam?: boolean; developerIds?: string[]; channelIds?: string[];
  instanceIds?: string[]; clouds?: string[]; statuses?: ('ACTIVE' | 'EXPIRED' | 'REVOKED')[]; expiresBefore?: string; expiresAfter?: string;
}
interface ServiceOrder { field: 'NAME' | 'CREATED_AT' | 'EXPIRES_AT' | 'LAST_USED_AT'; direction: 'ASC' | 'DESC' }

// the orders of the service (src/modules/api-keys: the ID breaks ties in the same direction)
const ORDER: Record<ServiceOrder['field'], string> = {
  NAME: 'NAME_CI', CREATED_AT: 'CREATED_AT', EXPIRES_AT: 'EXPIRES_AT', LAST_USED_AT: 'LAST_USED_OR_NEVER',
};

/**
 * The peer's variables for a listing the service is asked with `variables` by `account`: the same
 * keys (the account's, not deleted, the filter's conditions; statuses at `now`), the same order,
 * the same page size. Cursors are the peer's own. The account is named in the filter as the
 * service's SQL names it: with row-level security alone PostgreSQL scans every account's keys
 * (the policy's `or app.cross_account = 'on'` keeps it from the account's indexes).
 */
export function peerVariables(
  variables: Record<string, unknown>, now: Date, account: string, cursors: { after?: string | null; before?: string | null } = {},
): Record<string, unknown> {
  const f = (variables.filter ?? {}) as ServiceFilter;
  const and: Record<string, unknown>[] = [{ accountId: { equalTo: account } }, { deletedAt: { isNull: true } }];
  if (f.search !== undefined) and.push({ name: { includesInsensitive: f.search } });
  if (f.teamIds) and.push({ apiKeyTeamsByAccountIdAndApiKeyId: { some: { teamId: { in: f.teamIds } } } });
  if (f.withoutTeam !== undefined) and.push({ apiKeyTeamsByAccountIdAndApiKeyIdExist: !f.withoutTeam });
  if (f.developerIds) and.push({ developerId: { in: f.developerIds } });
  if (f.channelIds) and.push({ channelId: { in: f.channelIds } });
  if (f.instanceIds) and.push({ instanceId: { in: f.instanceIds } });
  if (f.clouds) and.push({ cloud: { in: f.clouds } });
  if (f.statuses && f.statuses.length < 3) {
    const at = now.toISOString();
    and.push({
      or: f.statuses.map((s) => (s === 'REVOKED' ? { revokedAt: { isNull: false } }
        : { revokedAt: { isNull: true }, expiresAt: s === 'ACTIVE' ? { greaterThan: at } : { lessThanOrEqualTo: at } })),
    });
  }
  if (f.expiresBefore !== undefined) and.push({ expiresAt: { lessThan: f.expiresBefore } });
  if (f.expiresAfter !== undefined) and.push({ expiresAt: { greaterThanOrEqualTo: f.expiresAfter } });
  const order = (variables.orderBy as ServiceOrder | undefined) ?? { field: 'CREATED_AT', direction: 'DESC' };
  const out: Record<string, unknown> = {
    filter: { and },
    orderBy: [`${ORDER[order.field]}_${order.direction}`, `PRIMARY_KEY_${order.direction}`],
  };
  for (const k of ['first', 'last'] as const) if (variables[k] !== undefined) out[k] = variables[k];
  if (cursors.after) out.after = cursors.after;
  if (cursors.before) out.before = cursors.before;
  return out;
}

/** The peer's document standing for a service listing operation (null: it has none). */
export function peerOperationFor(op: Operation): string | null {
  if (op.name === 'ApiKeys' || op.name === 'ApiKeys (paging back)') return 'PeerApiKeys';
  if (op.name === 'ApiKeys without totalCount') return 'PeerApiKeysWithoutTotalCount';
  if (op.name === 'KeyList') return 'PeerKeyList';
  return null;
}
