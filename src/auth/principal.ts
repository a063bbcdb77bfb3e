import { forbidden } from '../errors';

export const ROLES = ['admin', 'viewer', 'verifier'] as const;
export type Role = (typeof ROLES)[number];

/** Who a request speaks for, from its bearer token. */
export interface Principal {
  subject: string;
  /** The tenant; null only for a platform verifier (a verifier token without `account`). */
  accountId: string | null;
  roles: Role[];
}

/** A principal bound to one account: everything but platform verification needs one. */
export interface AccountPrincipal extends Principal {
  accountId: string;
}

const hasRole = (p: Principal, ...roles: Role[]) => roles.some((r) => p.roles.includes(r));

/** Whether the principal may read its account's data (admin or viewer, within an account). */
export const isReader = (p: Principal): p is AccountPrincipal => p.accountId !== null && hasRole(p, 'admin', 'viewer');

/** Queries: admin or viewer, within an account. */
export function requireReader(p: Principal): AccountPrincipal {
  if (p.accountId === null || !hasRole(p, 'admin', 'viewer')) {
    throw forbidden('This token may not read account data (needs role admin or viewer)');
  }
  return p as AccountPrincipal;
}

/** Mutations: admin only. */
export function requireAdmin(p: Principal): AccountPrincipal {
  if (p.accountId === null || !hasRole(p, 'admin')) {
    throw forbidden('This operation needs role admin');
  }
  return p as AccountPrincipal;
}

/** Key verification: verifier or admin. */
export function requireVerifier(p: Principal): Principal {
  if (!hasRole(p, 'admin', 'verifier')) {
    throw forbidden('Key verification needs role verifier or admin');
  }
  return p;
}

/**
 * Checks, before a mutation runs (or is replayed), that the principal may run every root field
 * it selects: the same rule as the mutations' own checks (`verifyApiKey` needs verifier or admin,
 * every other mutation admin), for the paths that act on a mutation before its resolvers do.
 */
export function requireMutationRoles(p: Principal, rootFields: readonly string[]): void {
  const fields = rootFields.filter((name) => name !== '__typename');
  if (fields.length === 0) return;
  if (fields.every((name) => name === 'verifyApiKey')) requireVerifier(p);
  else requireAdmin(p);
}
