#!/usr/bin/env bash
# Local stand-in for Neon's pooled endpoint ("-pooler" host), for CI.
#
# On Neon the application talks to PgBouncer in *transaction* pool mode, over TLS.
# Consecutive transactions of one client connection may then run on different
# PostgreSQL backends, so anything that lives in a backend session outside a
# transaction (SET, WITH HOLD / server-side cursors, named prepared statements,
# advisory locks, LISTEN, temp tables) silently goes missing or collides. This script
# starts a private PgBouncer that behaves that way, so the test suite can run through
# it:
#
#   * installs the Debian package pgbouncer if it is missing (1.18 on bookworm), but
#     does not use the Debian service: it writes its own pgbouncer.ini, auth files and
#     copies of the certificates into a run directory ($PGBOUNCER_RUN_DIR, default
#     /tmp/taskapi-pgbouncer) and runs `pgbouncer -d` there as the postgres user
#     (PgBouncer refuses to run as root). If the Debian service holds the port, it is
#     stopped;
#   * listens on 127.0.0.1:$PGBOUNCER_PORT (6432), pool_mode = transaction;
#   * [databases] "* = host=127.0.0.1 port=5432": any database name is passed
#     through, so Django's test runner can create and use test_<name>; CREATE DATABASE
#     through the pooler works (it is one statement in its own transaction);
#   * client side: client_tls_sslmode = require with the server certificate of
#     .ci/tls-postgres.sh, so clients can (and should) use sslmode=verify-full with
#     the same ca.crt; clients are authenticated with SCRAM (auth_type = hba, the
#     role's SCRAM secret copied from pg_authid into auth_file);
#   * server side: PgBouncer -> PostgreSQL is TLS too (server_tls_sslmode =
#     verify-full with the same CA). That is not a choice: .ci/tls-postgres.sh makes
#     taskapi_tls a TLS-only role, and the pooler logs in as that role. PgBouncer logs
#     in with the client's SCRAM keys (SCRAM pass-through), so PgBouncer's files hold
#     no plain-text password;
#   * max_prepared_statements = 0 where PgBouncer knows the setting (>= 1.21). 1.18
#     does not know it and behaves exactly like 0: protocol-level prepared statements
#     are forwarded unmanaged to whichever backend the transaction got;
#   * strict mode (PGBOUNCER_STRICT=1, the default; 0 turns it off). PgBouncer's
#     default LIFO reuse hands a lone client the same backend again and again, which
#     hides the session-state bugs that Neon's shared pooler exposes at random. So
#     server_reset_query_always = 1 with server_reset_query = DISCARD ALL: every
#     transaction starts on a clean session, no SET, cursor, prepared statement,
#     advisory lock or temp table survives a COMMIT, and such code fails every time
#     instead of now and then. PgBouncer still re-applies the parameters it tracks
#     (TimeZone, DateStyle, client_encoding, standard_conforming_strings,
#     application_name), as Neon's does, so a client's SET of those survives; the
#     role's defaults (.ci/tls-postgres.sh sets timezone UTC) mean Django sends none.
#     PgBouncer caches what the server reported per pool, so start restarts it when
#     the role's defaults have changed.
#     (server_round_robin = 1 as well, for when several backends are pooled.) There
#     is deliberately no min_pool_size: PgBouncer never closes idle backends below
#     it, and they would block DROP DATABASE (next point);
#   * server_idle_timeout = 1: idle backends are closed a second after their last
#     use. Django's test runner drops test_<name> at the end (and before a re-create)
#     and DROP DATABASE waits at most 5 s for other sessions; with the default 600 s
#     the pooled idle backends make it fail ("is being accessed by other users"),
#     and the leftover database then breaks the next run too;
#   * an admin console on a Unix socket in the run directory (local trust for the
#     user pgbouncer only): psql -h $RUN_DIR -p 6432 -U pgbouncer pgbouncer.
#
# Usage (after `eval "$(.ci/tls-postgres.sh)"`, which makes the certificates, the
# role and the database):
#
#     eval "$(.ci/pgbouncer.sh [start] [TLS_DIR] [DB])"  # defaults /tmp/taskapi-tls taskapi_tls
#     # -> DATABASE_URL=postgres://taskapi_tls:...@localhost:6432/DB?sslmode=verify-full&sslrootcert=TLS_DIR/ca.crt
#     .ci/pgbouncer.sh status
#     .ci/pgbouncer.sh xacts    # transactions carried so far, all databases
#     .ci/pgbouncer.sh stop
#
# Run it again whenever .ci/tls-postgres.sh has made new certificates (e.g. another
# TLS_DIR): PgBouncer holds copies, and PostgreSQL's new certificate would no longer
# verify against the old CA. start is idempotent: a running instance with the same
# configuration is kept, otherwise restarted. It then checks that SHOW CONFIG says pool_mode=transaction,
# that plain TCP is refused, that a verify-full query really goes through PgBouncer
# (SHOW STATS counters grow, inet_server_port() is PostgreSQL's 5432 although the
# client dialled 6432) and that CREATE/DROP DATABASE work through it. On success
# stdout carries only export lines. Environment: PGBOUNCER_RUN_DIR, PGBOUNCER_PORT,
# PGBOUNCER_STRICT, PG_PORT (5432), TASKAPI_TLS_ROLE, TASKAPI_TLS_PASSWORD (as in
# .ci/tls-postgres.sh).
set -euo pipefail

cmd=start
case "${1:-}" in
  start | stop | status | xacts) cmd="$1"; shift ;;
esac
TLS_DIR="${1:-/tmp/taskapi-tls}"
DB_NAME="${2:-taskapi_tls}"
RUN_DIR="${PGBOUNCER_RUN_DIR:-/tmp/taskapi-pgbouncer}"
PORT="${PGBOUNCER_PORT:-6432}"
STRICT="${PGBOUNCER_STRICT:-1}"
PG_PORT="${PG_PORT:-5432}"
ROLE="${TASKAPI_TLS_ROLE:-taskapi_tls}"
PASSWORD="${TASKAPI_TLS_PASSWORD:-taskapi-tls-ci-only}"
PIDFILE="$RUN_DIR/pgbouncer.pid"
INI="$RUN_DIR/pgbouncer.ini"

log() { printf '[pgbouncer] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$TLS_DIR" in /*) ;; *) TLS_DIR="$(pwd)/$TLS_DIR" ;; esac
case "$RUN_DIR" in /*) ;; *) RUN_DIR="$(pwd)/$RUN_DIR" ;; esac

# The pid in our pidfile, if that process is alive and is a pgbouncer.
our_pid() {
  local pid
  [[ -s "$PIDFILE" ]] || return 1
  pid="$(cat "$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == pgbouncer ]] || return 1
  echo "$pid"
}

stop_ours() {
  local pid
  pid="$(our_pid)" || { rm -f "$PIDFILE"; return 0; }
  log "stopping PgBouncer (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

admin() { psql -X -q -At -F '|' -h "$RUN_DIR" -p "$PORT" -U pgbouncer -d pgbouncer "$@"; }

case "$cmd" in
  stop)
    stop_ours
    exit 0
    ;;
  xacts)
    # Transactions carried so far, summed over every database (CI compares before
    # and after the pooled test run: the test database is test_<name>).
    our_pid >/dev/null || die "not running"
    admin -c 'SHOW STATS' | awk -F'|' '$1 != "pgbouncer" {n += $2} END {print n + 0}'
    exit 0
    ;;
  status)
    pid="$(our_pid)" || { log "not running"; exit 1; }
    log "running, pid $pid, config $INI"
    psql -X -h "$RUN_DIR" -p "$PORT" -U pgbouncer -d pgbouncer -c 'SHOW POOLS' -c 'SHOW SERVERS' >&2
    exit 0
    ;;
esac

[[ "$(id -u)" == 0 ]] || die "run me as root (I install packages and switch to the postgres user)"
for f in ca.crt server.crt server.key; do
  [[ -s "$TLS_DIR/$f" ]] || die "$TLS_DIR/$f is missing: run .ci/tls-postgres.sh '$TLS_DIR' first"
done
[[ "$DB_NAME" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "database name must be a plain identifier: $DB_NAME"

mkdir -p /run/lock
exec 9>/run/lock/taskapi-pgbouncer.lock
flock 9

# --- package -----------------------------------------------------------------------------
if ! command -v pgbouncer >/dev/null; then
  log "installing pgbouncer"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >&2
fi
version="$(pgbouncer --version | sed -n 's/^PgBouncer \([0-9.]*\).*/\1/p')"
[[ -n "$version" ]] || die "cannot tell the PgBouncer version"
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]; }

# --- files -------------------------------------------------------------------------------
pg_admin() { runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"; }
pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || die "PostgreSQL is not up on 127.0.0.1:$PG_PORT"
secret="$(pg_admin -v role="$ROLE" <<<"select rolpassword from pg_authid where rolname = :'role'")"
[[ "$secret" == SCRAM-SHA-256\$* ]] || die "role $ROLE has no SCRAM password: run .ci/tls-postgres.sh first"
# PgBouncer caches the parameters a server reported (TimeZone...) per pool and hands
# them to every new client, so a pool made before an ALTER ROLE ... SET keeps the old
# values. Written into pgbouncer.ini below: a change of the role's defaults restarts.
role_defaults="$(pg_admin -v role="$ROLE" <<<"select coalesce(array_to_string(setconfig, ', '), 'none')
  from pg_roles r left join pg_db_role_setting s on s.setrole = r.oid and s.setdatabase = 0
  where r.rolname = :'role'")"

install -d -o postgres -g postgres -m 755 "$RUN_DIR"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$TLS_DIR/ca.crt" "$TLS_DIR/server.crt" "$TLS_DIR/server.key" "$stage/"
printf '"%s" "%s"\n"pgbouncer" ""\n' "$ROLE" "$secret" >"$stage/userlist.txt"
cat >"$stage/hba.conf" <<EOF
# Managed by .ci/pgbouncer.sh. Admin console: Unix socket only, user pgbouncer.
local     pgbouncer  pgbouncer                 trust
hostssl   all        $ROLE       127.0.0.1/32  scram-sha-256
EOF
if version_ge "$version" 1.21; then
  prepared="max_prepared_statements = 0"
else
  prepared="; max_prepared_statements does not exist before PgBouncer 1.21; $version behaves as if it were 0."
fi
if [[ "$STRICT" == 1 ]]; then
  strict="; strict: every transaction starts on a clean session (DISCARD ALL after each one)
server_reset_query_always = 1
server_round_robin = 1"
else
  strict="server_reset_query_always = 0
server_round_robin = 0"
fi
cat >"$stage/pgbouncer.ini" <<EOF
; Managed by .ci/pgbouncer.sh (PgBouncer $version): stand-in for Neon's pooled endpoint.
; $ROLE's defaults when this was written (a change restarts PgBouncer): $role_defaults
[databases]
* = host=127.0.0.1 port=$PG_PORT

[pgbouncer]
logfile = $RUN_DIR/pgbouncer.log
pidfile = $PIDFILE
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir = $RUN_DIR
unix_socket_mode = 0777

pool_mode = transaction
$prepared
server_reset_query = DISCARD ALL
$strict
default_pool_size = 10
max_client_conn = 200
; close idle backends quickly, so that DROP DATABASE test_<name> (which waits 5 s) succeeds;
; do not add min_pool_size: backends below it are never closed
server_idle_timeout = 1
ignore_startup_parameters = extra_float_digits

auth_type = hba
auth_hba_file = $RUN_DIR/hba.conf
auth_file = $RUN_DIR/userlist.txt
admin_users = pgbouncer
stats_users = pgbouncer

client_tls_sslmode = require
client_tls_key_file = $RUN_DIR/server.key
client_tls_cert_file = $RUN_DIR/server.crt
client_tls_ca_file = $RUN_DIR/ca.crt

server_tls_sslmode = verify-full
server_tls_ca_file = $RUN_DIR/ca.crt

log_connections = 0
log_disconnections = 0
EOF

changed=no
for f in pgbouncer.ini hba.conf userlist.txt ca.crt server.crt server.key; do
  mode=644
  [[ "$f" == server.key || "$f" == userlist.txt ]] && mode=600
  if ! cmp -s "$stage/$f" "$RUN_DIR/$f"; then
    install -o postgres -g postgres -m "$mode" "$stage/$f" "$RUN_DIR/$f"
    changed=yes
  fi
done

# --- process -----------------------------------------------------------------------------
if pid="$(our_pid)"; then
  if [[ "$changed" == yes ]]; then
    log "configuration changed; restarting"
    stop_ours
  else
    log "already running (pid $pid) with this configuration"
  fi
fi

port_busy() { ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q .; }
if ! our_pid >/dev/null && port_busy; then
  # Most likely the Debian service, started by the package's postinst on a machine
  # with systemd. We do not use it.
  log "port $PORT is taken; stopping the Debian pgbouncer service"
  if [[ -d /run/systemd/system ]]; then
    systemctl stop pgbouncer.service pgbouncer.socket >&2 2>/dev/null || true
    systemctl disable pgbouncer.service >&2 2>/dev/null || true
  elif [[ -x /etc/init.d/pgbouncer ]]; then
    /etc/init.d/pgbouncer stop >&2 || true
  fi
  sleep 1
  port_busy && die "127.0.0.1:$PORT is still in use by: $(ss -Hltnp "sport = :$PORT")"
fi

if ! our_pid >/dev/null; then
  log "starting PgBouncer $version on 127.0.0.1:$PORT (run dir $RUN_DIR)"
  rm -f "$PIDFILE"
  # 9>&-: the daemon must not inherit (and hold forever) our flock.
  runuser -u postgres -- pgbouncer -d "$INI" >&2 9>&- ||
    die "pgbouncer did not start; last log lines: $(tail -n 5 "$RUN_DIR/pgbouncer.log" 2>/dev/null)"
fi
for _ in $(seq 1 50); do
  admin -c 'SHOW VERSION' >/dev/null 2>&1 && break
  sleep 0.1
done
admin -c 'SHOW VERSION' >/dev/null || die "the admin console does not answer; see $RUN_DIR/pgbouncer.log"

# --- checks ------------------------------------------------------------------------------
mode="$(admin -c 'SHOW CONFIG' | awk -F'|' '$1 == "pool_mode" {print $2}')"
[[ "$mode" == transaction ]] || die "SHOW CONFIG reports pool_mode=$mode"
log "ok: SHOW CONFIG reports pool_mode=transaction"

export PGPASSWORD="$PASSWORD"
client="host=localhost port=$PORT user=$ROLE connect_timeout=5"
tls="sslmode=verify-full sslrootcert=$TLS_DIR/ca.crt"

if out="$(psql -X -At "$client dbname=$DB_NAME sslmode=disable" -c 'select 1' 2>&1)"; then
  die "PgBouncer accepted a client without TLS"
fi
log "ok: plain TCP to PgBouncer is refused ($(head -n 1 <<<"$out" | sed 's/^psql: //'))"

xacts() { admin -c 'SHOW STATS' | awk -F'|' -v db="$DB_NAME" '$1 == db {print $2}'; }
before="$(xacts)"
row="$(psql -X -At "$client dbname=$DB_NAME $tls" \
  -c "select inet_server_port(), s.ssl from pg_stat_ssl s where s.pid = pg_backend_pid()")" ||
  die "cannot query $DB_NAME through PgBouncer with verify-full"
[[ "$row" == "$PG_PORT|t" ]] || die "unexpected (server port|backend ssl) through PgBouncer: $row"
after="$(xacts)"
[[ -n "$after" && "$after" -gt "${before:-0}" ]] ||
  die "SHOW STATS total_xact_count for $DB_NAME did not grow ($before -> $after): not going through PgBouncer?"
log "ok: verify-full to :$PORT reached PostgreSQL :$PG_PORT over TLS; total_xact_count $DB_NAME ${before:-none} -> $after"

probe="${DB_NAME}_pgbouncer_probe"
out="$(psql -X -q -At -v ON_ERROR_STOP=1 "$client dbname=postgres $tls" \
  -c "DROP DATABASE IF EXISTS \"$probe\"" -c "CREATE DATABASE \"$probe\"" -c "DROP DATABASE \"$probe\"" 2>&1)" ||
  die "CREATE/DROP DATABASE through PgBouncer failed: $out"
log "ok: CREATE DATABASE and DROP DATABASE work through PgBouncer"
unset PGPASSWORD

printf "export DATABASE_URL='postgres://%s:%s@localhost:%s/%s?sslmode=verify-full&sslrootcert=%s/ca.crt'\n" \
  "$ROLE" "$PASSWORD" "$PORT" "$DB_NAME" "$TLS_DIR"
printf "export PGBOUNCER_ADMIN='psql -h %s -p %s -U pgbouncer pgbouncer'\n" "$RUN_DIR" "$PORT"
