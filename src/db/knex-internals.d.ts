// knex builds the knex object of a transaction with this function; a request's lazily begun
// transaction (src/db/scope.ts) is built the same way.
declare module 'knex/lib/knex-builder/make-knex' {
  import type { Knex } from 'knex';

  function makeKnex(client: Knex.Client): Knex;
  export = makeKnex;
}
