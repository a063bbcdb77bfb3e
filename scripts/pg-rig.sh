#!/usr/bin/env bash
# A streaming replica and a PgBouncer (transaction pooling) beside the local PostgreSQL primary,
# for tests and CI. Debian 12, PostgreSQL from Debian packages, run as root; the primary at
# 127.0.0.1:5432 with trust authentication.
#
#   scripts/pg-rig.sh up       # replica on 5433, PgBouncer on 6432; does nothing when they run
#   scripts/pg-rig.sh up bouncer  # PgBouncer alone
#   scripts/pg-rig.sh status   # what runs, the replica's lag; exit 0 only when both run
#   scripts/pg-rig.sh env      # PG_RIG_REPLICA_URL=… and PG_RIG_BOUNCER_URL=… lines
#   scripts/pg-rig.sh down     # stops both, removes their directory and the primary's change
#
# The replica is a second cluster made by `pg_basebackup -R` (it streams from the primary and
# is a hot standby), started with pg_ctl as the postgres OS user; PgBouncer 1.18 (Debian package
# `pgbouncer`, installed when missing) runs in transaction pool mode in front of the primary.
# Both keep everything under PG_RIG_DIR (default /tmp/qckeys-pg-rig): data, configuration,
# logs, sockets, pid files.
#
# The primary: streaming needs wal_level replica or logical and max_wal_senders > 0 (the Debian
# defaults; changing them needs a restart, so `up` only checks them), and a pg_hba.conf entry
# that lets 127.0.0.1 connect for replication (`all` does not cover it). When replication is
# refused, `up` appends one line marked `# qckeys-pg-rig` to the primary's hba_file and reloads;
# `down` removes the marked lines and reloads. Nothing else on the primary changes: no
# replication slot is made (the replica streams continuously; pg_basebackup's own slot is
# temporary).
#
# Settings (environment): PG_RIG_DIR, PG_RIG_PRIMARY_PORT (5432), PG_RIG_REPLICA_PORT (5433),
# PG_RIG_BOUNCER_PORT (6432).
set -euo pipefail

DIR=${PG_RIG_DIR:-/tmp/qckeys-pg-rig}
HOST=127.0.0.1
PRIMARY_PORT=${PG_RIG_PRIMARY_PORT:-5432}
REPLICA_PORT=${PG_RIG_REPLICA_PORT:-5433}
BOUNCER_PORT=${PG_RIG_BOUNCER_PORT:-6432}
OS_USER=postgres
DB_USER=postgres
MARK='# qckeys-pg-rig'
REPLICA="$DIR/replica"

log() { printf 'pg-rig: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

primary() { psql -X -q -At -h "$HOST" -p "$PRIMARY_PORT" -U "$DB_USER" -d postgres -v ON_ERROR_STOP=1 "$@"; }
replica() { psql -X -q -At -h "$HOST" -p "$REPLICA_PORT" -U "$DB_USER" -d postgres -v ON_ERROR_STOP=1 "$@"; }
# fd 9 holds the script's lock: the daemons started here must not inherit it
as_os_user() { runuser -u "$OS_USER" -- "$@" 9<&-; }

bindir() {
  local major
  major=$(primary -c 'show server_version_num')
  echo "/usr/lib/postgresql/$((major / 10000))/bin"
}

replication_allowed() {
  psql -X -q -At "host=$HOST port=$PRIMARY_PORT user=$DB_USER replication=true dbname=postgres" -c 'IDENTIFY_SYSTEM' >/dev/null 2>&1
}

port_free() { ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

bouncer_pid() {
  local pid
  [ -f "$DIR/pgbouncer.pid" ] || return 1
  pid=$(cat "$DIR/pgbouncer.pid")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

replica_running() {
  [ -f "$REPLICA/PG_VERSION" ] && as_os_user "$(bindir)/pg_ctl" -D "$REPLICA" status >/dev/null 2>&1
}

wait_for() { # seconds, description, command…
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$what: not within ${seconds} s"
}

primary_access() {
  replication_allowed && return 0
  local hba
  hba=$(primary -c 'show hba_file')
  if ! grep -qF "$MARK" "$hba"; then
    log "allowing replication from $HOST in $hba"
    if [ -s "$hba" ] && [ -n "$(tail -c 1 "$hba")" ]; then echo >>"$hba"; fi
    printf 'host replication %s %s/32 trust %s\n' "$DB_USER" "$HOST" "$MARK" >>"$hba"
  fi
  primary -c 'select pg_reload_conf()' >/dev/null
  wait_for 10 "replication access to the primary" replication_allowed
}

primary_check() {
  pg_isready -q -h "$HOST" -p "$PRIMARY_PORT" || die "no PostgreSQL at $HOST:$PRIMARY_PORT"
  local level senders
  level=$(primary -c 'show wal_level')
  senders=$(primary -c 'show max_wal_senders')
  [ "$level" != minimal ] || die "the primary has wal_level = minimal: set it to replica and restart it"
  [ "$senders" -gt 0 ] || die "the primary has max_wal_senders = 0: raise it and restart it"
}

replica_up() {
  local bin
  bin=$(bindir)
  if replica_running; then return 0; fi
  if [ -f "$REPLICA/PG_VERSION" ]; then
    log "starting the replica left in $REPLICA"
    if as_os_user "$bin/pg_ctl" -D "$REPLICA" -l "$DIR/replica.log" -w -t 60 start >/dev/null; then
      return 0
    fi
    log "it did not start: making it again"
    rm -rf "$REPLICA"
  fi
  port_free "$REPLICA_PORT" || die "port $REPLICA_PORT is taken"
  log "base backup of $HOST:$PRIMARY_PORT into $REPLICA"
  as_os_user "$bin/pg_basebackup" -h "$HOST" -p "$PRIMARY_PORT" -U "$DB_USER" -D "$REPLICA" -R -X stream -c fast --no-sync
  # Debian keeps the primary's configuration outside its data directory: the replica gets its own.
  # A hot standby needs these at least as high as the primary's.
  local same
  same=$(primary -F ' = ' -c "select name, setting from pg_settings where name in
    ('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction')")
  cat >"$REPLICA/postgresql.conf" <<EOF
# the streaming replica of scripts/pg-rig.sh
listen_addresses = '$HOST'
port = $REPLICA_PORT
unix_socket_directories = '$DIR'
hba_file = '$REPLICA/pg_hba.conf'
ident_file = '$REPLICA/pg_ident.conf'
hot_standby = on
shared_buffers = 64MB
fsync = off
full_page_writes = off
logging_collector = off
$same
EOF
  cat >"$REPLICA/pg_hba.conf" <<EOF
local all all trust
host all all $HOST/32 trust
host replication all $HOST/32 trust
EOF
  : >"$REPLICA/pg_ident.conf"
  chown "$OS_USER:$OS_USER" "$REPLICA/postgresql.conf" "$REPLICA/pg_hba.conf" "$REPLICA/pg_ident.conf"
  as_os_user "$bin/pg_ctl" -D "$REPLICA" -l "$DIR/replica.log" -w -t 60 start >/dev/null
}

replica_streaming() {
  [ "$(replica -c "select pg_is_in_recovery() and exists (select 1 from pg_stat_wal_receiver where status = 'streaming')")" = t ]
}

bouncer_up() {
  if bouncer_pid >/dev/null; then return 0; fi
  if ! command -v pgbouncer >/dev/null; then
    log "installing pgbouncer"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }
  fi
  port_free "$BOUNCER_PORT" || die "port $BOUNCER_PORT is taken"
  # trust: the user must still be listed in auth_file. The service sends statement_timeout as a
  # startup parameter, which PgBouncer does not pass on: it is ignored here (set it per role or
  # database on the server). 1.18 has no max_prepared_statements: named prepared statements do
  # not survive a change of server connection.
  # the service's requests log in as qckeys_authenticator (made by its migrations)
  printf '"%s" ""\n' "$DB_USER" qckeys_authenticator >"$DIR/userlist.txt"
  cat >"$DIR/pgbouncer.ini" <<EOF
[databases]
* = host=$HOST port=$PRIMARY_PORT

[pgbouncer]
listen_addr = $HOST
listen_port = $BOUNCER_PORT
unix_socket_dir = $DIR
auth_type = trust
auth_file = $DIR/userlist.txt
admin_users = $DB_USER
pool_mode = transaction
default_pool_size = 10
max_client_conn = 500
ignore_startup_parameters = extra_float_digits,statement_timeout
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
EOF
  chown "$OS_USER:$OS_USER" "$DIR/userlist.txt" "$DIR/pgbouncer.ini"
  as_os_user pgbouncer -d -q "$DIR/pgbouncer.ini"
  wait_for 10 "PgBouncer on $HOST:$BOUNCER_PORT" psql -X -q -At -h "$HOST" -p "$BOUNCER_PORT" -U "$DB_USER" -d postgres -c 'select 1'
}

urls() {
  echo "PG_RIG_PRIMARY_URL=postgres://$DB_USER@$HOST:$PRIMARY_PORT/postgres"
  echo "PG_RIG_REPLICA_URL=postgres://$DB_USER@$HOST:$REPLICA_PORT/postgres"
  echo "PG_RIG_BOUNCER_URL=postgres://$DB_USER@$HOST:$BOUNCER_PORT/postgres"
}

# up [bouncer]: both, or PgBouncer alone (a test run through the pooler needs no replica, whose
# replay of the run's writes would only take CPU from it)
up() {
  primary_check
  mkdir -p "$DIR"
  chown "$OS_USER:$OS_USER" "$DIR"
  chmod 700 "$DIR"
  if [ "${1:-}" != bouncer ]; then
    primary_access
    replica_up
    wait_for 60 "the replica streaming from the primary" replica_streaming
  fi
  bouncer_up
  urls
}

down() {
  local pid
  if pid=$(bouncer_pid); then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  if [ -f "$REPLICA/PG_VERSION" ] && pg_isready -q -h "$HOST" -p "$PRIMARY_PORT"; then
    local bin
    bin=$(bindir)
    if as_os_user "$bin/pg_ctl" -D "$REPLICA" status >/dev/null 2>&1; then
      as_os_user "$bin/pg_ctl" -D "$REPLICA" -m fast -w -t 30 stop >/dev/null \
        || as_os_user "$bin/pg_ctl" -D "$REPLICA" -m immediate -w -t 30 stop >/dev/null
    fi
  elif [ -f "$REPLICA/postmaster.pid" ]; then
    # no primary to ask for the binaries' version: stop the postmaster by its pid file
    pid=$(head -n 1 "$REPLICA/postmaster.pid")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -INT "$pid"
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  if pg_isready -q -h "$HOST" -p "$PRIMARY_PORT"; then
    local hba
    hba=$(primary -c 'show hba_file')
    if grep -qF "$MARK" "$hba"; then
      log "removing the replication entry from $hba"
      # rewritten in place: the file keeps its owner and mode
      local kept
      kept=$(grep -vF "$MARK" "$hba"; echo .)
      printf '%s' "${kept%.}" >"$hba"
      primary -c 'select pg_reload_conf()' >/dev/null
    fi
  fi
  rm -rf "$DIR"
}

status() {
  local ok=0
  if replica_running; then
    replica -c "select 'replica: ' || case when pg_is_in_recovery() then 'streaming replica' else 'NOT in recovery' end
      || ', replay lag ' || coalesce(round(extract(epoch from now() - pg_last_xact_replay_timestamp()) * 1000)::text || ' ms', 'unknown')
      || case when pg_is_wal_replay_paused() then ' (replay paused)' else '' end
      || ', received ' || coalesce(pg_last_wal_receive_lsn()::text, '-') || ', replayed ' || coalesce(pg_last_wal_replay_lsn()::text, '-')"
  else
    echo "replica: not running"
    ok=3
  fi
  if pid=$(bouncer_pid); then
    echo "pgbouncer: running (pid $pid, transaction pooling on $HOST:$BOUNCER_PORT)"
  else
    echo "pgbouncer: not running"
    ok=3
  fi
  [ "$ok" -eq 0 ] && urls
  return "$ok"
}

[ "$(id -u)" -eq 0 ] || die "run as root (the replica and PgBouncer run as the $OS_USER OS user)"
# one command at a time: test files may call `up` side by side
exec 9<"$0"
flock 9

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  status) status ;;
  env) urls ;;
  *) echo "usage: $0 up [bouncer]|down|status|env" >&2; exit 2 ;;
esac
