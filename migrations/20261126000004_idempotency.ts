import type { Knex } from 'knex';

// Responses of mutations sent with an Idempotency-Key, kept 24 hours for replay.
// The key itself is never stored: rows are found by an HMAC of (account, key), and the
// response (which may hold a new secret) is encrypted with a key derived from the
// Idempotency-Key value and a server secret, so the table alone cannot reveal it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('idempotency_keys', (t) => {
    t.text('account_id').notNullable();
    t.binary('key_hash').notNullable();
    // HMAC of the operation and its variables: the same key with other input is a conflict
    t.binary('request_hash').notNullable();
    // null while the first request is in flight
    t.integer('http_status');
    t.binary('response_iv');
    t.binary('response');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // an in-flight claim older than this was abandoned (its process died) and may be taken over
    t.timestamp('locked_until', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.primary(['account_id', 'key_hash']);
  });
  // pruning of expired rows
  await knex.raw('create index idempotency_keys_expires_idx on idempotency_keys (expires_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('idempotency_keys');
}
