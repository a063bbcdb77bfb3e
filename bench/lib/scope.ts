import { DEFAULT_ROLE, scopeStatement } from '../../src/db/scope';

/** Stands for the request's account in {@link scopeSettings}' values. */
export const ACCOUNT_PLACEHOLDER = '{account}';

/**
 * The settings the service's transactions set (src/db/scope.ts), as name → value, the account
 * as {@link ACCOUNT_PLACEHOLDER}: read from the service's own scope statement, so that a peer
 * given these runs under exactly the row-level security the service does, and a change of the
 * service's scope is mirrored. `role`: DATABASE_ROLE as the service reads it (absent: its default).
 */
export function scopeSettings(role: string | null = roleOf(process.env.DATABASE_ROLE)): Record<string, string> {
  const { sql, bindings } = scopeStatement({ role }, ACCOUNT_PLACEHOLDER);
  const settings: Record<string, string> = {};
  let next = 0;
  for (const m of sql.matchAll(/set_config\('((?:[^']|'')+)', (\?|'(?:[^']|'')*'), true\)/g)) {
    const value = m[2] === '?' ? bindings[next++] : m[2].slice(1, -1).replace(/''/g, "'");
    settings[m[1].replace(/''/g, "'")] = value;
  }
  if (!Object.values(settings).includes(ACCOUNT_PLACEHOLDER) || next !== bindings.length) {
    throw new Error(`cannot read the service's scope settings from ${JSON.stringify(sql)}: bench/lib/scope.ts needs updating`);
  }
  return settings;
}

function roleOf(value: string | undefined): string | null {
  if (value === undefined || value === '') return DEFAULT_ROLE;
  return value === 'none' ? null : value;
}
