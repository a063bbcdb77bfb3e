import type { Logger } from 'pino';
import type { Principal } from './auth/principal';
import type { Config } from './config';
import type { Database } from './db/database';
import type { RecentWriters } from './db/replicas';
import type { RequestTransaction } from './db/request';
import { ALL_ACCOUNTS, type Tenant } from './db/tenant';
import type { Clock } from './lib/clock';
import type { CatalogCache } from './modules/api-keys/catalog';
import type { KeyCounts } from './modules/api-keys/counts';
import type { CountedFacets } from './modules/api-keys/facets';
import type { KeyChanges } from './modules/api-keys/events';
import { createApiKeyLoaders } from './modules/api-keys/loaders';
import { createChannelLoaders } from './modules/channels/loaders';
import { createDeveloperLoaders } from './modules/developers/loaders';
import type { IdempotencyGuard } from './modules/idempotency/guard';
import { createInstanceLoaders } from './modules/instances/loaders';
import { createTeamLoaders } from './modules/teams/loaders';
import { createUsageLoaders } from './modules/usage/loaders';
import type { UsageRecorder } from './modules/usage/recorder';
import type { KeyVerifier } from './modules/verification/verifier';

/** Long-lived parts of one running service, shared by its requests (nothing of it is process-wide). */
export interface AppServices {
  config: Config;
  db: Database;
  logger: Logger;
  clock: Clock;
  usage: UsageRecorder;
  verifier: KeyVerifier;
  idempotency: IdempotencyGuard;
  /** The keys this service's mutations changed, for its verification cache. */
  keyChanges: KeyChanges;
  /** Key counts kept by (account, filter), good while the account's count stamp stays. */
  keyCounts: KeyCounts;
  /** Facet counts kept by (account, filter, first), the same way. */
  keyFacets: KeyCounts<CountedFacets>;
  /** How many links teams have, by (account, teams), which only listings' plans depend on: kept a minute. */
  teamLinks: KeyCounts<number>;
  /** Developers, instances and channels that listings showed, good while the account's catalog stamp stays. */
  catalog: CatalogCache;
  /** With read replicas: the principals whose reads stay on the primary after their writes (null: no replicas). */
  recentWriters: RecentWriters | null;
}

export function createLoaders(db: RequestTransaction, tenant: Tenant, clock: Clock) {
  return {
    ...createApiKeyLoaders(db, tenant, clock),
    ...createChannelLoaders(db, tenant),
    ...createDeveloperLoaders(db, tenant),
    ...createInstanceLoaders(db, tenant),
    ...createTeamLoaders(db, tenant),
    ...createUsageLoaders(db),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

/** Per request: who is asking, the request's database and loaders, and the time. */
export interface Context {
  app: AppServices;
  principal: Principal;
  /** The principal's account; every account for a platform verifier. */
  tenant: Tenant;
  /** The request's database: statements scoped to the tenant; `mutation` for a mutation's work. */
  db: RequestTransaction;
  loaders: Loaders;
  requestId: string;
  /** The current time (the service's clock). */
  now(): Date;
  /** Usage points the request's reports may still take (src/modules/usage/cost.ts). */
  usagePoints: { left: number };
  /** Drops the loaders' caches (after a mutation, so results are read fresh). */
  resetLoaders(): void;
}

export function createContext(app: AppServices, principal: Principal, requestId: string, db: RequestTransaction): Context {
  const tenant: Tenant = principal.accountId ?? ALL_ACCOUNTS;
  const ctx: Context = {
    app,
    principal,
    tenant,
    db,
    requestId,
    loaders: createLoaders(db, tenant, app.clock),
    now: () => new Date(app.clock()),
    usagePoints: { left: app.config.usage.maxPoints },
    resetLoaders() {
      ctx.loaders = createLoaders(db, tenant, app.clock);
    },
  };
  return ctx;
}
