import pg from 'pg';

/**
 * Whose data a piece of work may touch: one account, or every account (the paths that span
 * accounts by design: the lookup of a key by its secret's digest, the usage flush, retention,
 * and platform verifiers). The one tenant type of the service: every layer takes it.
 */
export const ALL_ACCOUNTS = Symbol('all accounts');
export type Tenant = string | typeof ALL_ACCOUNTS;

/** The roles the migrations create for the service's transactions on PostgreSQL. */
export const APP_ROLE = 'qckeys_app';
export const SYSTEM_ROLE = 'qckeys_system';

/** What the service's transactions switch to. */
export interface ScopeRoles {
  /** The role of an account's work (row-level security: that account's rows only); null: stay the connecting user. */
  account: string | null;
  /** The role of the cross-account work; null: stay the connecting user. */
  system: string | null;
}

/**
 * The statement that scopes a transaction (migrations/20261126000020_row_level_security.ts and
 * 20261201000010_tenant_roles.ts): its role, and the account it may see, or, for the work that
 * spans accounts, the cross-account setting, which the policies honour for any role but the
 * account role. Settings are local to the transaction: a pooled connection carries nothing to
 * its next user. Literals only (no parameters), so it can lead a multi-statement round trip.
 *
 * No parallel plans: the service runs many short statements side by side, and a parallel
 * plan's workers cost more to start than they save and take the cores of the other requests
 * (a page of three teams' keys: 10.7–12.3 ms with two workers, 2.9 ms without; at 16
 * connections 77–88 against 200–203 pages/s).
 */
export function scopeSql(roles: ScopeRoles, tenant: Tenant): string {
  const parts: string[] = [];
  const role = tenant === ALL_ACCOUNTS ? roles.system : roles.account;
  if (role !== null) parts.push(`set_config('role', ${pg.escapeLiteral(role)}, true)`);
  parts.push(tenant === ALL_ACCOUNTS
    ? `set_config('app.cross_account', 'on', true)`
    : `set_config('app.account_id', ${pg.escapeLiteral(tenant)}, true)`);
  parts.push(`set_config('max_parallel_workers_per_gather', '0', true)`);
  return `select ${parts.join(', ')}`;
}
