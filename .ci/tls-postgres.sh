#!/usr/bin/env bash
# Local stand-in for Neon's "TLS is mandatory" rule, for CI.
#
# Neon only accepts TLS connections with a password. The project's default CI run
# talks to the local PostgreSQL over plain TCP as the trusted superuser, so it cannot
# catch a DATABASE_URL or a settings change that drops sslmode, the CA file or the
# password. This script makes the local cluster behave like Neon for ONE dedicated
# role, without touching the plain-TCP trust access that other test runs rely on:
#
#   * a throw-away CA and a server certificate for CN=localhost with the SANs
#     DNS:localhost, IP:127.0.0.1 and IP:::1, generated into a directory ($1,
#     default /tmp/taskapi-tls): ca.crt, ca.key, server.crt, server.key. They are
#     kept while they are valid (so a PgBouncer started from them keeps working),
#     otherwise regenerated;
#   * copies of server.crt/server.key (and ca.crt) under the cluster's config
#     directory, owned by postgres, key mode 600;
#   * ssl = on with those files, in conf.d/95-taskapi-tls.conf (the Debian
#     postgresql.conf has include_dir = 'conf.d'; ALTER SYSTEM is the fallback).
#     In PostgreSQL 15 every ssl* setting is "sighup": a reload is enough;
#   * a role taskapi_tls (LOGIN, CREATEDB for Django's test databases) with a
#     SCRAM password, and a pg_hba.conf block at the TOP of the file so that this
#     role can only log in over TLS:
#         local     all taskapi_tls               reject
#         hostnossl all taskapi_tls 0.0.0.0/0    reject
#         hostnossl all taskapi_tls ::/0         reject
#         hostssl   all taskapi_tls 127.0.0.1/32 scram-sha-256
#         hostssl   all taskapi_tls ::1/128      scram-sha-256
#         host      all taskapi_tls all          reject
#     SCRAM rather than trust: Neon always wants a password, so the URL the tests
#     use must carry one, exactly as in production, and the password only ever
#     travels inside TLS. Other roles keep their existing rules (e.g. trust);
#   * the database $2 (default taskapi_tls), owned by taskapi_tls;
#   * the role's session defaults, as an operator sets them on Neon (Django's
#     "Optimizing PostgreSQL's configuration"):
#         ALTER ROLE taskapi_tls SET timezone TO 'UTC';
#         ALTER ROLE taskapi_tls SET client_encoding TO 'UTF8';
#         ALTER ROLE taskapi_tls SET default_transaction_isolation TO 'read committed';
#     Django then finds TimeZone already 'UTC' when it connects and sends no
#     set_config; behind a transaction-mode pooler a session SET is state that only
#     PgBouncer's parameter tracking keeps alive. (The cluster's own default here is
#     'Etc/UTC', the same zone under another name, which Django would "fix".)
#
# It then checks that taskapi_tls is refused with sslmode=disable, accepted with
# sslmode=verify-full (that pg_stat_ssl reports TLS, and that a new session starts
# with TimeZone UTC), and that the superuser's plain-TCP access still works if it
# worked before. On success the only thing on stdout is export lines, so use it as:
#
#     eval "$(.ci/tls-postgres.sh /tmp/taskapi-tls taskapi_tls)"
#     # -> DATABASE_URL=postgres://taskapi_tls:...@localhost:5432/taskapi_tls?sslmode=verify-full&sslrootcert=/tmp/taskapi-tls/ca.crt
#
# Idempotent: run it as often as you like. Must run as root (it writes the cluster
# configuration and chowns files to postgres). Environment overrides: PG_PORT (5432),
# PG_CLUSTER (main), PG_VERSION (newest in /etc/postgresql), TASKAPI_TLS_ROLE
# (taskapi_tls), TASKAPI_TLS_PASSWORD (a fixed CI-only password, URL-safe characters
# only). Logs go to stderr.
set -euo pipefail

TLS_DIR="${1:-/tmp/taskapi-tls}"
DB_NAME="${2:-taskapi_tls}"
ROLE="${TASKAPI_TLS_ROLE:-taskapi_tls}"
PASSWORD="${TASKAPI_TLS_PASSWORD:-taskapi-tls-ci-only}"
PG_HOST=127.0.0.1
PG_PORT="${PG_PORT:-5432}"
PG_CLUSTER="${PG_CLUSTER:-main}"
CERT_DAYS=825

log() { printf '[tls-postgres] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ "$(id -u)" == 0 ]] || die "run me as root (I edit the cluster configuration)"
[[ "$ROLE" =~ ^[a-z_][a-z0-9_]*$ ]] || die "role name must be a plain identifier: $ROLE"
[[ "$DB_NAME" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "database name must be a plain identifier: $DB_NAME"
[[ "$PASSWORD" =~ ^[A-Za-z0-9._~-]+$ ]] || die "TASKAPI_TLS_PASSWORD: use URL-safe characters only"
case "$TLS_DIR" in /*) ;; *) TLS_DIR="$(pwd)/$TLS_DIR" ;; esac

# One run at a time (two CI jobs on one machine would race on pg_hba.conf).
mkdir -p /run/lock
exec 9>/run/lock/taskapi-tls-postgres.lock
flock 9

# --- packages ------------------------------------------------------------------------
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v pg_lsclusters >/dev/null || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

PG_VERSION="${PG_VERSION:-$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)}"
[[ -n "$PG_VERSION" && -d "/etc/postgresql/$PG_VERSION/$PG_CLUSTER" ]] ||
  die "no cluster $PG_VERSION/$PG_CLUSTER under /etc/postgresql"

# Superuser statements go over the Unix socket as the postgres OS user: that works
# with Debian's default "local all postgres peer" as well as with trust.
pg_admin() { runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"; }

wait_ready() {
  for _ in $(seq 1 60); do
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && return 0
    sleep 0.5
  done
  die "PostgreSQL is not accepting connections on $PG_HOST:$PG_PORT"
}

# pg_reload_conf() only signals the postmaster; give it a moment before new backends
# (which inherit its configuration) are expected to see the change.
reload() {
  pg_admin -c 'select pg_reload_conf()' >/dev/null
  sleep 1
  wait_ready
}

if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  log "starting PostgreSQL $PG_VERSION/$PG_CLUSTER"
  # 9>&-: the postmaster must not inherit (and hold forever) our flock.
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start >&2 9>&- || true
fi
wait_ready

# Remember whether the plain-TCP superuser access works now, so we can prove we did
# not break it.
if psql -X -q -At "host=$PG_HOST port=$PG_PORT user=postgres dbname=postgres sslmode=disable connect_timeout=5" \
  -c 'select 1' >/dev/null 2>&1; then
  superuser_tcp_before=yes
else
  superuser_tcp_before=no
  log "note: plain-TCP access as postgres did not work before this run either; not checking it"
fi

# --- certificates ----------------------------------------------------------------------
certs_ok() {
  local d="$1"
  [[ -s "$d/ca.crt" && -s "$d/ca.key" && -s "$d/server.crt" && -s "$d/server.key" ]] || return 1
  openssl verify -CAfile "$d/ca.crt" "$d/server.crt" >/dev/null 2>&1 || return 1
  openssl x509 -in "$d/ca.crt" -noout -checkend 86400 >/dev/null || return 1
  openssl x509 -in "$d/server.crt" -noout -checkend 86400 >/dev/null || return 1
  local san
  san="$(openssl x509 -in "$d/server.crt" -noout -ext subjectAltName 2>/dev/null)" || return 1
  grep -q 'DNS:localhost' <<<"$san" || return 1
  grep -q 'IP Address:127.0.0.1' <<<"$san" || return 1
  # the key belongs to the certificate
  [[ "$(openssl x509 -in "$d/server.crt" -noout -pubkey)" == "$(openssl pkey -in "$d/server.key" -pubout)" ]] || return 1
}

mkdir -p "$TLS_DIR"
chmod 755 "$TLS_DIR"
if certs_ok "$TLS_DIR"; then
  log "reusing the CA and server certificate in $TLS_DIR"
else
  log "generating a CA and a server certificate (CN=localhost) in $TLS_DIR"
  work="$(mktemp -d)"
  (
    umask 077
    openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days "$CERT_DAYS" \
      -subj "/CN=taskapi CI throw-away CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash" \
      -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
    openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/CN=localhost" \
      -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
    cat >"$work/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days "$CERT_DAYS" -sha256 \
      -extfile "$work/server.ext" -out "$work/server.crt" 2>/dev/null
  )
  certs_ok "$work" || die "the freshly generated certificates do not verify"
  for f in ca.key server.key; do install -m 600 "$work/$f" "$TLS_DIR/$f"; done
  for f in ca.crt server.crt; do install -m 644 "$work/$f" "$TLS_DIR/$f"; done
  rm -rf "$work"
fi

# --- server configuration ---------------------------------------------------------------
CONF_DIR="/etc/postgresql/$PG_VERSION/$PG_CLUSTER"
PG_TLS_DIR="$CONF_DIR/taskapi-tls"
install -d -o postgres -g postgres -m 700 "$PG_TLS_DIR"
install_if_changed() { # src dest mode
  cmp -s "$1" "$2" || install -o postgres -g postgres -m "$3" "$1" "$2"
  chown postgres:postgres "$2"
  chmod "$3" "$2"
}
install_if_changed "$TLS_DIR/server.crt" "$PG_TLS_DIR/server.crt" 644
install_if_changed "$TLS_DIR/server.key" "$PG_TLS_DIR/server.key" 600
install_if_changed "$TLS_DIR/ca.crt" "$PG_TLS_DIR/ca.crt" 644

ssl_settings=(
  "ssl=on"
  "ssl_cert_file=$PG_TLS_DIR/server.crt"
  "ssl_key_file=$PG_TLS_DIR/server.key"
  "ssl_ca_file=$PG_TLS_DIR/ca.crt"
  "ssl_min_protocol_version=TLSv1.2"
)
config_file="$(pg_admin -c 'show config_file')"
if grep -Eq "^[[:space:]]*include_dir[[:space:]]*=[[:space:]]*'?conf\.d'?" "$config_file" &&
  [[ -d "$(dirname "$config_file")/conf.d" ]]; then
  conf_snippet="$(dirname "$config_file")/conf.d/95-taskapi-tls.conf"
  tmp="$(mktemp)"
  {
    echo "# Managed by .ci/tls-postgres.sh: TLS for the taskapi_tls role (Neon stand-in)."
    for kv in "${ssl_settings[@]}"; do printf "%s = '%s'\n" "${kv%%=*}" "${kv#*=}"; done
  } >"$tmp"
  if ! cmp -s "$tmp" "$conf_snippet"; then
    install -o postgres -g postgres -m 644 "$tmp" "$conf_snippet"
    log "wrote $conf_snippet"
  fi
  rm -f "$tmp"
else
  log "no include_dir 'conf.d' in $config_file; using ALTER SYSTEM"
  for kv in "${ssl_settings[@]}"; do
    pg_admin -c "ALTER SYSTEM SET ${kv%%=*} = '${kv#*=}'"
  done
fi
bad="$(pg_admin -c "select sourcefile || ':' || sourceline || ': ' || error from pg_file_settings where error is not null")"
[[ -z "$bad" ]] || die "postgresql configuration has errors: $bad"

# ssl must be on before the hostssl lines below are valid (pg_hba_file_rules says
# "hostssl record cannot match because SSL is disabled" otherwise), so reload now.
# Reload even when no file changed this time: an earlier, interrupted run may have
# written them without reloading. A reload does not disturb open sessions.
log "reloading PostgreSQL (every ssl* setting is sighup in PostgreSQL $PG_VERSION; no restart needed)"
reload
[[ "$(pg_admin -c 'show ssl')" == on ]] || die "ssl is still off after the reload; see /var/log/postgresql/"
[[ "$(pg_admin -c 'show ssl_cert_file')" == "$PG_TLS_DIR/server.crt" ]] ||
  die "ssl_cert_file is overridden elsewhere (postgresql.auto.conf?): $(pg_admin -c "select sourcefile from pg_settings where name = 'ssl_cert_file'")"

# pg_hba.conf: our block goes first, so that nothing below can let the role in
# without TLS. Lines of other roles are untouched.
hba_file="$(pg_admin -c 'show hba_file')"
begin_marker="# BEGIN taskapi-tls (managed by .ci/tls-postgres.sh: $ROLE may only connect over TLS)"
end_marker="# END taskapi-tls"
tmp="$(mktemp)"
{
  echo "$begin_marker"
  printf '%-10s %-4s %-14s %-14s %s\n' \
    local all "$ROLE" "" reject \
    hostnossl all "$ROLE" 0.0.0.0/0 reject \
    hostnossl all "$ROLE" ::/0 reject \
    hostssl all "$ROLE" 127.0.0.1/32 scram-sha-256 \
    hostssl all "$ROLE" ::1/128 scram-sha-256 \
    host all "$ROLE" all reject
  echo "$end_marker"
  sed '/^# BEGIN taskapi-tls/,/^# END taskapi-tls/d' "$hba_file"
} >"$tmp"
if ! cmp -s "$tmp" "$hba_file"; then
  [[ -e "$hba_file.taskapi-tls.orig" ]] || cp -p "$hba_file" "$hba_file.taskapi-tls.orig"
  cp -p "$hba_file" "$hba_file.taskapi-tls.prev"
  cat "$tmp" >"$hba_file" # keeps owner and mode
  # pg_hba_file_rules parses the file on disk, before any reload.
  bad="$(pg_admin -c "select line_number || ': ' || error from pg_hba_file_rules where error is not null")"
  if [[ -n "$bad" ]]; then
    cat "$hba_file.taskapi-tls.prev" >"$hba_file"
    die "the new pg_hba.conf does not parse ($bad); restored the previous one"
  fi
  log "updated $hba_file (backup of the original: $hba_file.taskapi-tls.orig); reloading"
  reload
fi
rm -f "$tmp"


# --- role and database -------------------------------------------------------------------
pg_admin -v role="$ROLE" <<'SQL'
SELECT format('CREATE ROLE %I', :'role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB NOSUPERUSER', :'role') \gexec
SELECT format('ALTER ROLE %I SET timezone TO %L', :'role', 'UTC') \gexec
SELECT format('ALTER ROLE %I SET client_encoding TO %L', :'role', 'UTF8') \gexec
SELECT format('ALTER ROLE %I SET default_transaction_isolation TO %L', :'role', 'read committed') \gexec
SQL
# Set the password only when it does not already work: every ALTER ROLE ... PASSWORD
# makes a new SCRAM salt, and a PgBouncer started by .ci/pgbouncer.sh holds a copy of
# the old secret (SCRAM pass-through), so it would stop getting in.
if PGPASSWORD="$PASSWORD" psql -X -q -At "host=localhost port=$PG_PORT user=$ROLE dbname=postgres connect_timeout=5 sslmode=verify-full sslrootcert=$TLS_DIR/ca.crt" \
  -c 'select 1' >/dev/null 2>&1 &&
  [[ "$(pg_admin -v role="$ROLE" <<<"select rolpassword like 'SCRAM-SHA-256\$%' from pg_authid where rolname = :'role'")" == t ]]; then
  log "role $ROLE exists and its SCRAM password works"
else
  log "setting the SCRAM password of role $ROLE"
  pg_admin -v role="$ROLE" -v pw="$PASSWORD" <<'SQL'
SET password_encryption = 'scram-sha-256';
SELECT format('ALTER ROLE %I PASSWORD %L', :'role', :'pw') \gexec
SQL
fi
if [[ -z "$(pg_admin -c "select 1 from pg_database where datname = '$DB_NAME'")" ]]; then
  log "creating database $DB_NAME owned by $ROLE"
  runuser -u postgres -- createdb -p "$PG_PORT" -O "$ROLE" "$DB_NAME"
else
  pg_admin -c "ALTER DATABASE \"$DB_NAME\" OWNER TO \"$ROLE\""
fi

# --- checks ---------------------------------------------------------------------------------
export PGPASSWORD="$PASSWORD"
conninfo="host=localhost port=$PG_PORT user=$ROLE dbname=$DB_NAME connect_timeout=5"
if out="$(psql -X -At "$conninfo sslmode=disable" -c 'select 1' 2>&1)"; then
  die "$ROLE could connect WITHOUT TLS; pg_hba.conf is not doing its job"
fi
grep -q 'no encryption' <<<"$out" || die "sslmode=disable failed, but not because of pg_hba.conf: $out"
log "ok: $ROLE without TLS is refused ($(head -n 1 <<<"$out" | sed 's/^psql: //'))"

for host in localhost 127.0.0.1; do
  got="$(psql -X -At "host=$host port=$PG_PORT user=$ROLE dbname=$DB_NAME connect_timeout=5 sslmode=verify-full sslrootcert=$TLS_DIR/ca.crt" \
    -c 'select s.ssl, s.version, current_user from pg_stat_ssl s where s.pid = pg_backend_pid()')" ||
    die "$ROLE could not connect with sslmode=verify-full to $host"
  [[ "$got" == t\|TLS*\|"$ROLE" ]] || die "unexpected pg_stat_ssl row via $host: $got"
  log "ok: $ROLE over verify-full to $host: ssl|version|user = $got"
done
# (client_encoding is not checked here: psql asks for its own at start-up, as
# Django does for UTF8, and that wins over the role's default.)
got="$(psql -X -At "$conninfo sslmode=verify-full sslrootcert=$TLS_DIR/ca.crt" \
  -c 'show timezone' -c 'show default_transaction_isolation' | paste -sd '|')"
[[ "$got" == 'UTC|read committed' ]] || die "the role's session defaults did not apply: $got"
log "ok: a new session of $ROLE starts with timezone|isolation = $got"
unset PGPASSWORD

if [[ "$superuser_tcp_before" == yes ]]; then
  psql -X -q -At "host=$PG_HOST port=$PG_PORT user=postgres dbname=postgres sslmode=disable connect_timeout=5" \
    -c 'select 1' >/dev/null || die "plain-TCP access as postgres no longer works"
  log "ok: plain-TCP (sslmode=disable) access as postgres still works"
fi

printf "export DATABASE_URL='postgres://%s:%s@localhost:%s/%s?sslmode=verify-full&sslrootcert=%s/ca.crt'\n" \
  "$ROLE" "$PASSWORD" "$PG_PORT" "$DB_NAME" "$TLS_DIR"
printf "export TASKAPI_TLS_DIR='%s'\n" "$TLS_DIR"
