# Shared PostgreSQL helpers for silo/run.sh (quickstart) and tests/run.sh (throwaway instance). Source it.
# PostgreSQL refuses to run as root, so as root every server command runs as the non-root `postgres` OS user.

pg_find_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    PG_BIN=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
  else
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  if [ -z "${PG_BIN:-}" ] || [ ! -x "$PG_BIN/initdb" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "PostgreSQL not found: installing the Debian 'postgresql' package" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null || { echo "apt-get install postgresql failed" >&2; return 1; }
      PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    else
      echo "PostgreSQL binaries (initdb, pg_ctl) not found; install PostgreSQL 15 or run as root to install it" >&2
      return 1
    fi
  fi
  export PG_BIN
}

# Runs a command as the OS user that owns the cluster.
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_free_port() {
  python3 - <<'PY' 2>/dev/null || echo $(( 20000 + RANDOM % 20000 ))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# pg_init DIR PASSWORD: initdb once (superuser `plandex_admin`, scram auth on loopback).
pg_init() {
  local dir=$1 password=$2
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres; chown postgres "$dir"; }
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    local pwfile="$dir/.pw"
    ( umask 077; printf '%s\n' "$password" > "$pwfile" )
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -U plandex_admin --pwfile="$pwfile" -A scram-sha-256 \
      --auth-local=scram-sha-256 -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; rm -f "$pwfile"; return 1; }
    rm -f "$pwfile"
  fi
}

# pg_start DIR PORT [extra postgres options]: loopback only, socket inside DIR.
pg_start() {
  local dir=$1 port=$2; shift 2
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 $*" start >/dev/null \
    || { tail -n 20 "$dir/postgres.log" >&2; return 1; }
}

pg_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] && pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_psql DIR PORT PASSWORD SQL
pg_psql() {
  PGPASSWORD=$3 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$2" -U plandex_admin -d postgres -c "$4"
}

pg_random_password() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
