import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Principal } from './auth/principal';
import type { Config } from './config';
import type { Database } from './db/database';
import type { RequestDatabase } from './db/scope';
import { createApiKeyLoaders } from './modules/api-keys/loaders';
import { createChannelLoaders } from './modules/channels/loaders';
import { createDeveloperLoaders } from './modules/developers/loaders';
import { createInstanceLoaders } from './modules/instances/loaders';
import { createTeamLoaders } from './modules/teams/loaders';
import { createUsageLoaders } from './modules/usage/loaders';
import type { IdempotencyGuard } from './modules/idempotency/guard';
import type { UsageRecorder } from './modules/usage/recorder';
import type { KeyVerifier } from './modules/verification/verifier';

/** Long-lived parts of the running service, shared by every request. */
export interface AppServices {
  config: Config;
  db: Database;
  logger: Logger;
  usage: UsageRecorder;
  verifier: KeyVerifier;
  idempotency: IdempotencyGuard;
}

export function createLoaders(knex: Knex, accountId: string | null) {
  return {
    ...createApiKeyLoaders(knex, accountId),
    ...createChannelLoaders(knex, accountId),
    ...createDeveloperLoaders(knex, accountId),
    ...createInstanceLoaders(knex, accountId),
    ...createTeamLoaders(knex, accountId),
    ...createUsageLoaders(knex),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

/** Per request: who is asking, their account's loaders, the database handle. */
export interface Context {
  app: AppServices;
  principal: Principal;
  /** The request's database: on a server, one transaction scoped to the principal's account. */
  scope: RequestDatabase;
  /** Every statement of the request goes through it (`scope.knex`). */
  knex: Knex;
  loaders: Loaders;
  requestId: string;
  /** Drops the loaders' caches (after a mutation, so results are read fresh). */
  resetLoaders(): void;
}

export function createContext(app: AppServices, principal: Principal, requestId: string, scope: RequestDatabase): Context {
  const knex = scope.knex;
  const ctx: Context = {
    app,
    principal,
    scope,
    knex,
    requestId,
    loaders: createLoaders(knex, principal.accountId),
    resetLoaders() {
      ctx.loaders = createLoaders(knex, principal.accountId);
    },
  };
  return ctx;
}
