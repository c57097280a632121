#!/usr/bin/env bash
# Quickstart: one command brings up PostgreSQL (data kept in .data/ inside the repo) and a silo in the foreground.
#   silo/run.sh               first silo: starts PostgreSQL if it is not running, migrates, runs the silo
#   silo/run.sh --instance 2  another silo against the same database (ports +1: 11112, 30001, 8081)
#   PLANDEX_DATA_DIR=DIR      keep data elsewhere than .data/ in the repo
# Ctrl-C stops the silo, and the PostgreSQL this command started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/silo/scripts/postgres.sh"

INSTANCE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --instance) INSTANCE=${2:?--instance needs a number}; shift 2 ;;
    --instance=*) INSTANCE=${1#*=}; shift ;;
    *) break ;;
  esac
done
case "$INSTANCE" in ''|*[!0-9]*) echo "--instance must be a number" >&2; exit 2 ;; esac
OFFSET=$((INSTANCE - 1))

DATA="${PLANDEX_DATA_DIR:-$ROOT/.data}"
PGDIR="$DATA/pg"
mkdir -p "$DATA"; chmod 700 "$DATA"
pg_find_bin
[ "$(id -u)" = 0 ] && chmod 711 "$DATA"   # the postgres OS user must reach .data/pg

if [ ! -f "$DATA/pg-password" ]; then ( umask 077; pg_random_password > "$DATA/pg-password" ); fi
PGPW=$(cat "$DATA/pg-password")
if [ ! -f "$DATA/pg-port" ]; then
  port=15432; (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && port=$(pg_free_port)
  echo "$port" > "$DATA/pg-port"
fi
PGPORT=$(cat "$DATA/pg-port")

STARTED_PG=0
cleanup() { if [ "$STARTED_PG" = 1 ]; then echo "stopping PostgreSQL"; pg_stop "$PGDIR"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM   # until the silo runs

pg_init "$PGDIR" "$PGPW"
if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
  pg_start "$PGDIR" "$PGPORT"
  STARTED_PG=1
  echo "PostgreSQL started on 127.0.0.1:$PGPORT (data in $PGDIR)"
fi
pg_psql "$PGDIR" "$PGPORT" "$PGPW" "SELECT 1" >/dev/null
if ! PGPASSWORD=$PGPW "$PG_BIN/psql" -X -tA -h 127.0.0.1 -p "$PGPORT" -U plandex_admin -d postgres \
     -c "SELECT 1 FROM pg_database WHERE datname='plandex'" | grep -q 1; then
  pg_psql "$PGDIR" "$PGPORT" "$PGPW" "CREATE DATABASE plandex"
fi

echo "building the silo (first time takes about a minute)"
dotnet build "$ROOT/silo/Plandex.Silo.csproj" -c Release -v q -nologo >/dev/null
SILO="$ROOT/silo/bin/Release/net10.0/Plandex.Silo.dll"

export PLANDEX_Database__ConnectionString="Host=127.0.0.1;Port=$PGPORT;Username=plandex_admin;Password=$PGPW;Database=plandex"
export PLANDEX_Cluster__ClusterId=${PLANDEX_Cluster__ClusterId:-plandex-local}
export PLANDEX_Cluster__SiloPort=$((11111 + OFFSET))
export PLANDEX_Cluster__GatewayPort=$((30000 + OFFSET))
export PLANDEX_Http__Port=$((8080 + OFFSET))
export PLANDEX_Cluster__SiloName=${PLANDEX_Cluster__SiloName:-silo-$INSTANCE}
# Local quickstart: the provider stub on loopback is an allowed endpoint and anyone on this machine may sign up.
export PLANDEX_Providers__AllowLoopback=${PLANDEX_Providers__AllowLoopback:-true}
# Hardening (see README "How your key is handled"): no debugger/profiler attach.
export DOTNET_EnableDiagnostics=${DOTNET_EnableDiagnostics:-0}
export PLANDEX_Security__KeyDirectory=${PLANDEX_Security__KeyDirectory:-$DATA/keys}
export PLANDEX_Accounts__OpenSignUp=${PLANDEX_Accounts__OpenSignUp:-true}

dotnet "$SILO" migrate
# The silo runs as a child so a signal to this script reaches it too; it shuts down gracefully, then PostgreSQL stops.
dotnet "$SILO" "$@" &
SILO_PID=$!
# SIGTERM, not SIGINT: a background child of a non-interactive shell ignores SIGINT.
trap 'kill -TERM $SILO_PID 2>/dev/null || true' INT TERM
set +e
wait $SILO_PID; rc=$?
while kill -0 $SILO_PID 2>/dev/null; do wait $SILO_PID; rc=$?; done
exit $rc
