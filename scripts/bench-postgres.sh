#!/usr/bin/env bash
# bench-postgres.sh: wif's token exchange and ARM writes on PostgreSQL
# against the embedded SQLite store, in one run on one machine (issue 15).
#
# Starts a throwaway PostgreSQL (scripts/postgres.sh) pinned to the
# generator's core, then runs scripts/bench-sts.sh's rs256 and fics100k
# scenarios on SQLite and on PostgreSQL (a fresh database schema each, since
# every run starts wif with a new data directory), and prints:
#   - RS256 fresh exchanges per server CPU-second, PostgreSQL / SQLite
#     (target >= 0.9x);
#   - ARM create throughput (10k identities and 100k federated credentials
#     through the ARM API, resources per second of setup) on both;
#   - the server's RSS with 10k identities and 100k FICs on PostgreSQL
#     (target < 150 MB).
# PostgreSQL runs on GEN_CPU, beside the generator: on SQLite the store's
# work is on the server's core, so the PostgreSQL ratio includes the
# database's CPU only as contention with the generator.
#
# Environment: those of bench-sts.sh (DURATION, NICE, BIG_*...), and OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d /tmp/wif-bench-pg.XXXXXX)}
GEN_CPU=${GEN_CPU:-1}
mkdir -p "$OUT"
pgdir=$(mktemp -d /tmp/wif-bench-pgdata.XXXXXX)
eval "$(scripts/postgres.sh start "$pgdir")"
trap 'scripts/postgres.sh stop "$pgdir" || true; rm -rf "$pgdir"' EXIT
for pid in $(pgrep -f "$pgdir/data" || true); do taskset -a -p -c "$GEN_CPU" "$pid" >/dev/null 2>&1 || true; done
psql_() { "$PGBIN/psql" "$WIF_TEST_POSTGRES" -qAt -v ON_ERROR_STOP=1 "$@"; }

# schema NAME: a fresh schema, printed as a DSN with its search_path.
schema() {
	psql_ -c "DROP SCHEMA IF EXISTS $1 CASCADE; CREATE SCHEMA $1" >/dev/null
	echo "${WIF_TEST_POSTGRES}&search_path=$1"
}

bench() { # NAME ONLY [WIF_ARGS]
	echo "== $1"
	OUT="$OUT/$1" ONLY="$2" WIF_ARGS="${3:-}" GEN_CPU="$GEN_CPU" scripts/bench-sts.sh >"$OUT/$1.txt" 2>&1 || true
	grep -E '^(RS256|raw|load:)' "$OUT/$1.txt" || tail -5 "$OUT/$1.txt"
}
bench sqlite-rs256 rs256
bench postgres-rs256 rs256 "--store $(schema rs256)"
bench sqlite-fics100k fics100k
bench postgres-fics100k fics100k "--store $(schema fics100k)"

echo
echo "== summary ($OUT)"
jq_() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
lite=$(jq_ "$OUT/sqlite-rs256/rs256.json" "d['closed']['exchangesPerServerCpuSec']")
pg=$(jq_ "$OUT/postgres-rs256/rs256.json" "d['closed']['exchangesPerServerCpuSec']")
python3 - "$lite" "$pg" <<'PY'
import sys
lite, pg = map(float, sys.argv[1:])
r = pg / lite
print(f"RS256 fresh exchange: SQLite {lite:.0f}/core-s, PostgreSQL {pg:.0f}/core-s: {r:.2f}x  (target >= 0.90x) {'PASS' if r >= 0.9 else 'FAIL'}")
PY
for s in sqlite postgres; do
	f="$OUT/$s-fics100k/fics100k.json"
	jq_ "$f" "f\"$s: ARM setup of {d['identities']} identities + {d['fics']} FICs in {d['setupSeconds']:.1f}s = {(d['identities']+d['fics'])/d['setupSeconds']:.0f} resources/s; RSS after setup {d['memAfterSetup']['rssKiB']/1024:.1f} MiB, after load {d['memAfterLoad']['rssKiB']/1024:.1f} MiB\""
done
rss=$(jq_ "$OUT/postgres-fics100k/fics100k.json" "d['memAfterLoad']['hwmKiB']")
python3 -c "import sys; r=int(sys.argv[1])/1024; print(f'PostgreSQL replica peak RSS with 10k identities and 100k FICs: {r:.1f} MiB (target < 150 MB) ' + ('PASS' if r*1.048576 < 150 else 'FAIL'))" "$rss"
