#!/usr/bin/env bash
# A streaming hot standby of the local PostgreSQL, for trying DATABASE_READ_URL and for the
# read-replica chaos test. Usage:
#
#   scripts/local-standby.sh [start]   create (pg_basebackup -R) and start it, or reuse a healthy one
#   scripts/local-standby.sh status    prints "streaming <replay lsn>" or "not running"; exit 1 if not running
#   scripts/local-standby.sh stop      stops it, keeps its files: the next start restarts it (or recreates it if it cannot catch up)
#   scripts/local-standby.sh remove    stops it, deletes its files, takes the pg_hba.conf line below out again
#
# Settings (environment): PRIMARY_HOST (127.0.0.1), PRIMARY_PORT (5432), STANDBY_PORT (5433),
# STANDBY_DIR (/var/lib/postgresql/custody-standby), PG_USER (postgres).
#
# What it changes on the primary, and only if needed: PostgreSQL refuses replication connections
# unless pg_hba.conf has a "replication" line ("all" does not cover it). If a replication
# connection is refused, the script appends one line, for 127.0.0.1 only, marked with a comment:
#     host replication <PG_USER> 127.0.0.1/32 trust   # custody-ledger local-standby
# and reloads the configuration (pg_reload_conf(): no restart, sessions go on). `remove` takes the
# line out again. wal_level (replica or logical) and max_wal_senders (> 0) are PostgreSQL's
# defaults; they need a restart to change, so the script never changes them: it stops and says so.
#
# No replication slot: a slot would make the primary keep WAL for as long as the standby is away,
# which fills the primary's disk if the standby is forgotten. Without one, a standby that was away
# too long cannot catch up: `start` then notices and recreates it (a base backup copies the whole
# cluster: seconds for a small one, about 20 s for 500 MB on a busy 2-core machine).
#
# Runs the standby as the PostgreSQL user: as root through runuser, or directly as that user.
set -euo pipefail

PRIMARY_HOST=${PRIMARY_HOST:-127.0.0.1}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
STANDBY_PORT=${STANDBY_PORT:-5433}
STANDBY_DIR=${STANDBY_DIR:-/var/lib/postgresql/custody-standby}
PG_USER=${PG_USER:-postgres}
MARK='# custody-ledger local-standby'
DATA="$STANDBY_DIR/data"
LOG="$STANDBY_DIR/standby.log"

die() { echo "local-standby: $*" >&2; exit 1; }
say() { echo "local-standby: $*" >&2; }

as_pg() {
  if [ "$(id -un)" = "$PG_USER" ]; then "$@"
  elif [ "$(id -u)" = 0 ]; then (cd / && runuser -u "$PG_USER" -- "$@")
  else die "run as root or as $PG_USER (the standby's files belong to $PG_USER)"; fi
}

primary_sql() { psql -X -q -At -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PG_USER" -d postgres -c "$1"; }
standby_sql() { psql -X -q -At -h 127.0.0.1 -p "$STANDBY_PORT" -U "$PG_USER" -d postgres -c "$1" 2>/dev/null; }

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$BIN" ] || BIN=$(dirname "$(command -v pg_ctl || die 'pg_ctl not found (install the PostgreSQL server package)')")
pg_ctl() { as_pg "$BIN/pg_ctl" "$@"; }

running() { [ -f "$DATA/postmaster.pid" ] && pg_ctl -D "$DATA" status >/dev/null 2>&1; }

# "streaming <lsn>" when the server on STANDBY_PORT is our standby, in recovery and receiving WAL
health() {
  standby_sql "SELECT CASE WHEN pg_is_in_recovery() AND (SELECT status FROM pg_stat_wal_receiver) = 'streaming' AND current_setting('data_directory') = '$DATA'
                 THEN 'streaming ' || pg_last_wal_replay_lsn() END" || true
}

allow_replication() {
  if psql -X -q -At "host=$PRIMARY_HOST port=$PRIMARY_PORT user=$PG_USER replication=true" -c 'IDENTIFY_SYSTEM' >/dev/null 2>&1; then return; fi
  local hba; hba=$(primary_sql 'SHOW hba_file')
  [ -w "$hba" ] || die "the primary refuses replication connections and $hba is not writable here: add \"host replication $PG_USER 127.0.0.1/32 trust\" to it and run SELECT pg_reload_conf()"
  if ! grep -qF "$MARK" "$hba"; then
    say "allowing replication connections from 127.0.0.1 on the primary: one line added to $hba, configuration reloaded (no restart)"
    [ -z "$(tail -c 1 "$hba")" ] || echo >> "$hba"
    printf 'host replication %s 127.0.0.1/32 trust   %s\n' "$PG_USER" "$MARK" >> "$hba"
  fi
  [ "$(primary_sql 'SELECT pg_reload_conf()')" = t ] || die 'pg_reload_conf() failed on the primary'
  for _ in $(seq 1 50); do
    psql -X -q -At "host=$PRIMARY_HOST port=$PRIMARY_PORT user=$PG_USER replication=true" -c 'IDENTIFY_SYSTEM' >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "the primary still refuses replication connections after the pg_hba.conf change: see $hba (an earlier line may reject them)"
}

check_primary() {
  pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" || die "no PostgreSQL at $PRIMARY_HOST:$PRIMARY_PORT (start it: pg_ctlcluster --skip-systemctl-redirect 15 main start)"
  local wal senders
  wal=$(primary_sql 'SHOW wal_level'); senders=$(primary_sql 'SHOW max_wal_senders')
  case "$wal" in replica|logical) ;; *) die "the primary has wal_level=$wal; a standby needs replica (a restart of the primary is needed to change it: this script does not do that)";; esac
  [ "$senders" -gt 0 ] || die 'the primary has max_wal_senders=0; a standby needs at least 1 (a restart of the primary is needed to change it: this script does not do that)'
}

create() {
  say "creating a hot standby of $PRIMARY_HOST:$PRIMARY_PORT in $DATA (port $STANDBY_PORT)"
  as_pg rm -rf "$DATA"
  mkdir -p "$STANDBY_DIR"; chown "$PG_USER" "$STANDBY_DIR" 2>/dev/null || true
  # -R writes standby.signal and primary_conninfo; -X stream copies the WAL written meanwhile
  as_pg pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PG_USER" -D "$DATA" -X stream -R -c fast
  # a hot standby needs these at least as high as on the primary
  local settings
  settings=$(primary_sql "SELECT string_agg(name || ' = ' || setting, E'\n') FROM pg_settings WHERE name IN ('max_connections','max_worker_processes','max_wal_senders','max_prepared_transactions','max_locks_per_transaction')")
  as_pg tee "$DATA/postgresql.conf" >/dev/null <<EOF
# written by scripts/local-standby.sh: a streaming hot standby of $PRIMARY_HOST:$PRIMARY_PORT
port = $STANDBY_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$STANDBY_DIR'
hot_standby = on
$settings
EOF
  as_pg tee "$DATA/pg_hba.conf" >/dev/null <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
  as_pg touch "$DATA/pg_ident.conf"
}

# waits until the standby streams; fails early when the primary no longer has the WAL it needs
await_streaming() {
  for _ in $(seq 1 "$1"); do
    [ -n "$(health)" ] && return 0
    grep -q 'has already been removed' "$LOG" 2>/dev/null && return 1
    sleep 0.1
  done
  return 1
}

start() {
  check_primary
  if running; then
    if [ -n "$(health)" ]; then say "reusing the running standby on port $STANDBY_PORT"; report; return; fi
    say 'the standby is running but not streaming: recreating it'
    pg_ctl -D "$DATA" -m fast -w stop >/dev/null
  fi
  pg_isready -q -h 127.0.0.1 -p "$STANDBY_PORT" && die "something else listens on 127.0.0.1:$STANDBY_PORT: set STANDBY_PORT"
  allow_replication
  if [ -f "$DATA/standby.signal" ]; then
    # a stopped standby catches up if the primary still has the WAL since it stopped (seconds, not a full copy)
    as_pg truncate -s 0 "$LOG" 2>/dev/null || true
    if pg_ctl -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null && await_streaming 150; then say 'restarted the stopped standby'; report; return; fi
    say "the stopped standby does not start or cannot catch up (the primary may have recycled the WAL it needs; see $LOG): recreating it"
    running && pg_ctl -D "$DATA" -m immediate -w stop >/dev/null
  fi
  create
  as_pg truncate -s 0 "$LOG" 2>/dev/null || true
  pg_ctl -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null || die "the standby did not start: see $LOG"
  await_streaming 300 || die "the standby started but is not streaming from the primary after 30 s: see $LOG"
  report
}

report() {
  say "$(health) — read-only connections: postgres://$PG_USER@127.0.0.1:$STANDBY_PORT/<database>"
}

stop() {
  if running; then pg_ctl -D "$DATA" -m fast -w stop >/dev/null; say 'stopped'; else say 'not running'; fi
}

remove() {
  stop
  as_pg rm -rf "$DATA"
  rm -f "$LOG"
  rmdir "$STANDBY_DIR" 2>/dev/null || true
  local hba; hba=$(primary_sql 'SHOW hba_file' 2>/dev/null || true)
  if [ -n "$hba" ] && [ -w "$hba" ] && grep -qF "$MARK" "$hba"; then
    sed -i "\\|$MARK|d" "$hba"
    primary_sql 'SELECT pg_reload_conf()' >/dev/null
    say "removed the replication line from $hba (configuration reloaded)"
  fi
  say 'removed'
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  remove) remove ;;
  status) h=$(health); if [ -n "$h" ]; then echo "$h"; else echo 'not running'; exit 1; fi ;;
  *) die "unknown command \"$1\": use start, status, stop or remove" ;;
esac
