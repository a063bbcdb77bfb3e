import { APP_ROLE, scopeSql, SYSTEM_ROLE } from '../../src/db/tenant';

/** Stands for the request's account in {@link scopeSettings}' values. */
export const ACCOUNT_PLACEHOLDER = '{account}';

/**
 * The settings the service's request transactions set (src/db/tenant.ts), as name → value, the
 * account as {@link ACCOUNT_PLACEHOLDER}: read from the service's own scope statement, so that a
 * peer given these runs under exactly the row-level security the service does, and a change of
 * the service's scope is mirrored. `role`: DATABASE_ROLE as the service reads it (absent: its default).
 */
export function scopeSettings(role: string | null = roleOf(process.env.DATABASE_ROLE)): Record<string, string> {
  const sql = scopeSql({ account: role, system: role === null ? null : SYSTEM_ROLE }, ACCOUNT_PLACEHOLDER);
  const settings: Record<string, string> = {};
  for (const m of sql.matchAll(/set_config\('((?:[^']|'')+)', '((?:[^']|'')*)', true\)/g)) {
    settings[m[1].replace(/''/g, "'")] = m[2].replace(/''/g, "'");
  }
  if (!Object.values(settings).includes(ACCOUNT_PLACEHOLDER)) {
    throw new Error(`cannot read the service's scope settings from ${JSON.stringify(sql)}: bench/lib/scope.ts needs updating`);
  }
  return settings;
}

function roleOf(value: string | undefined): string | null {
  if (value === undefined || value === '') return APP_ROLE;
  return value === 'none' ? null : value;
}
