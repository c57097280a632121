#!/usr/bin/env bash
# Backup and restore for the self-hosted default (the quickstart's PostgreSQL in $PLANDEX_DATA_DIR, default .data/).
#   silo/backup.sh backup FILE            pg_dump (custom format) of the 'plandex' database into FILE
#   silo/backup.sh restore FILE [NAME]    restore FILE into a NEW database NAME (default plandex_restored_<time>)
# The dump holds ciphertext and wrapped data keys only. The epoch key store ($DATA/keys/epochs) is deliberately NOT
# part of it: never keep copies of that directory longer than Retention:Window, or deleted data stays readable.
# Restoring an old dump yields only what the live epoch keys can still unwrap; data whose epoch is destroyed reads
# as "key destroyed" (by design). Starts PostgreSQL for the duration if silo/run.sh is not running it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/silo/scripts/postgres.sh"
usage() { sed -n '2,4p' "$0" | sed 's/^# //' >&2; exit 2; }
[ $# -ge 2 ] || usage
ACTION=$1 FILE=$2 NAME=${3:-plandex_restored_$(date -u +%Y%m%d%H%M%S)}
case "$NAME" in *[!a-z0-9_]*|'') echo "database name must be lowercase letters, digits and _" >&2; exit 2 ;; esac

DATA="${PLANDEX_DATA_DIR:-$ROOT/.data}"
PGDIR="$DATA/pg"
[ -f "$DATA/pg-password" ] && [ -f "$DATA/pg-port" ] || { echo "no quickstart database in $DATA (run silo/run.sh once)" >&2; exit 1; }
PGPW=$(cat "$DATA/pg-password"); PGPORT=$(cat "$DATA/pg-port")
pg_find_bin
STARTED_PG=0
trap '[ "$STARTED_PG" = 1 ] && pg_stop "$PGDIR"' EXIT
if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then pg_start "$PGDIR" "$PGPORT"; STARTED_PG=1; fi
export PGPASSWORD=$PGPW
CONN=(-h 127.0.0.1 -p "$PGPORT" -U plandex_admin)

case "$ACTION" in
  backup)
    ( umask 077; "$PG_BIN/pg_dump" "${CONN[@]}" -d plandex -Fc -f "$FILE" )
    echo "backed up database 'plandex' to $FILE ($(du -h "$FILE" | cut -f1)); the epoch key store is not in it, by design"
    ;;
  restore)
    [ -f "$FILE" ] || { echo "no such file: $FILE" >&2; exit 1; }
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "${CONN[@]}" -d postgres -c "CREATE DATABASE $NAME"
    "$PG_BIN/pg_restore" "${CONN[@]}" -d "$NAME" --no-owner --exit-on-error "$FILE"
    echo "restored $FILE into database '$NAME'. To serve it, stop the silos and run them with"
    echo "  PLANDEX_Database__ConnectionString='Host=127.0.0.1;Port=$PGPORT;Username=plandex_admin;Password=...;Database=$NAME'"
    echo "Data whose epoch key was destroyed since the backup reads as 'key destroyed'."
    ;;
  *) usage ;;
esac
