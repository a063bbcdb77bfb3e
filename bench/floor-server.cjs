// The floor of this machine for the first page of ApiKeys: a bare Node HTTP server that answers
// every POST with that page, its whole answer built by PostgreSQL in one prepared statement
// (bench/floor-page.sql) under the service's own row-level-security scope, pool and driver (the
// built dist/), with no GraphQL, no token check and no per-key work in Node: what is left is HTTP,
// one round trip and PostgreSQL's work for the answer, on the same cores as the service. It shows
// how far a page could go on this machine if the service's own work on it were taken away.
// The count is kept as the service keeps it: counted once, then read back while the
// account's count stamp, read with the page, has not moved. Forked by bench/run.ts; FLOOR_ACCOUNT
// is the account listed, DATABASE_URL and DB_* as the service reads them.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const DIST = path.resolve(__dirname, '..', 'dist', 'src');
const { loadConfig } = require(path.join(DIST, 'config.js'));
const { createDatabase } = require(path.join(DIST, 'db', 'database.js'));
const { prepared } = require(path.join(DIST, 'db', 'db.js'));
const { answerBench } = require('./child-ipc.cjs');

const PAGE_SQL = fs.readFileSync(path.join(__dirname, 'floor-page.sql'), 'utf8');
const COUNT_SQL = `select (select count(*) from api_keys where account_id = $1 and deleted_at is null)::int as n,
  coalesce((select stamp from api_key_count_stamps where account_id = $1), 0) as stamp`;

async function main() {
  const account = process.env.FLOOR_ACCOUNT;
  if (!account) throw new Error('FLOOR_ACCOUNT is not set');
  const config = loadConfig();
  const db = createDatabase({
    target: config.database, timeoutMs: config.dbTimeoutMs, poolMax: config.dbPoolMax, poolWaitMs: config.dbPoolWaitMs, preparedStatements: true,
  });
  let kept = null;
  const page = async () => {
    for (;;) {
      const request = db.request(account);
      request.readsApart();
      let count;
      let row;
      try {
        count = kept ?? (kept = await request.first(prepared(COUNT_SQL, [account])));
        row = await request.first(prepared(PAGE_SQL, [account, new Date(), count.n]));
      } finally {
        await request.end(true);
      }
      if (row.stamp === count.stamp) return row.body;
      if (kept === count) kept = null; // the account's keys changed: count again
    }
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      page().then((body) => {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }, (err) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err && err.message));
      });
    });
  });
  server.listen(0, '127.0.0.1', () => answerBench({ url: `http://127.0.0.1:${server.address().port}/graphql`, verifyPort: null },
    () => new Promise((resolve) => server.close(resolve)).then(() => db.close())));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
