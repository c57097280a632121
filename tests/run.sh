#!/usr/bin/env bash
# The test command (CI runs exactly this through .ci/run): a throwaway PostgreSQL on a free loopback port,
# every test project, then PostgreSQL stopped and removed, even on failure. Exit code: non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/silo/scripts/postgres.sh"

command -v dotnet >/dev/null || { echo "the .NET SDK (dotnet) is required" >&2; exit 1; }
# strace records a silo's every connection for promise 5's test (NoThirdPartyTests).
if ! command -v strace >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get install -y -qq strace >/dev/null; fi
  command -v strace >/dev/null || { echo "strace is required (apt-get install strace)" >&2; exit 1; }
fi
pg_find_bin

WORK=$(mktemp -d /tmp/plandex-test.XXXXXX)
chmod 755 "$WORK"
PGDIR="$WORK/pg"
PGPORT=$(pg_free_port)
PGPW=$(pg_random_password)
APPPW=$(pg_random_password)
cleanup() {
  pg_stop "$PGDIR"
  pkill -f "$WORK" 2>/dev/null || true   # silo processes a failed test left behind
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== PostgreSQL: throwaway instance on 127.0.0.1:$PGPORT"
pg_init "$PGDIR" "$PGPW"
pg_start "$PGDIR" "$PGPORT" "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
# The runtime role: rows only, no DDL (silos run as it; migrations run as plandex_admin).
pg_psql "$PGDIR" "$PGPORT" "$PGPW" "CREATE ROLE plandex_app LOGIN PASSWORD '$APPPW'"

export PLANDEX_TEST_PG_ADMIN="Host=127.0.0.1;Port=$PGPORT;Username=plandex_admin;Password=$PGPW;Database=postgres"
export PLANDEX_TEST_PG_APP="Host=127.0.0.1;Port=$PGPORT;Username=plandex_app;Password=$APPPW;Database=postgres"
export PLANDEX_TEST_PG_DATA="$PGDIR/data"
export PLANDEX_TEST_PG_BIN="$PG_BIN"
export PLANDEX_TEST_WORK="$WORK"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# The git-verified ignore corpus lives beside the repository (../shared); a clone elsewhere on this machine
# still finds the workplace copy.
if [ ! -d "$ROOT/../shared/ignore-corpus" ] && [ -d /work/shared/ignore-corpus ] && [ -z "${PLANDEX_IGNORE_CORPUS:-}" ]; then
  export PLANDEX_IGNORE_CORPUS=/work/shared/ignore-corpus
fi

echo "== build"
dotnet build "$ROOT/Plandex.Actors.sln" -c Release -v q -nologo
export PLANDEX_SILO_DLL="$ROOT/silo/bin/Release/net10.0/Plandex.Silo.dll"
export PLANDEX_CLI_DLL="$ROOT/client/Plandex.Cli/bin/Release/net10.0/plandex.dll"

failed=0
projects="tests/Plandex.Client.Tests tests/Plandex.ProviderStub.Tests tests/Plandex.Tests"
filter=()
# Developer shortcut: tests/run.sh 'FullyQualifiedName~Streams' runs only matching integration tests.
if [ $# -gt 0 ]; then projects=tests/Plandex.Tests; filter=(--filter "$1"); fi
for project in $projects; do
  echo "== test $project"
  # Integration tests print their measurements ([measure] lines); the 1,000+ corpus cases print only failures.
  verbosity=minimal; [ "$project" = tests/Plandex.Tests ] && verbosity=normal
  if ! dotnet test "$ROOT/$project" -c Release --no-build -nologo \
       --logger "console;verbosity=$verbosity" --results-directory "$WORK/results" "${filter[@]}"; then
    failed=1
  fi
done
if [ "$failed" = 0 ]; then echo "== all test projects passed"; else echo "== some tests FAILED" >&2; fi
exit $failed
