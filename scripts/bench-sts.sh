#!/usr/bin/env bash
# bench-sts.sh: loopback benchmark of wif's token exchange (HTTP path).
#
# Runs, in one go, with wif pinned to one core (taskset -c $SERVER_CPU) and
# the load generator on another ($GEN_CPU):
#   1. the raw RSA-2048 PKCS#1 v1.5 sign rate on the server's core (baseline)
#   2. RS256, fresh assertions, 10 FICs: maximum rate, then p99 at half of it
#   3. the baseline again (the two are averaged: other load drifts)
#   4. ES256 (--token-signing-alg ES256), fresh assertions
#   5. RS256 with --token-reuse, fresh assertions
#   6. RS256 with 100k FICs on 10k identities, with the server's RSS
# and prints a summary with ratios and PASS/FAIL per target (test/load
# report.go): RS256 >= 0.90x the raw sign rate, ES256 >= 8,000 per
# core-second, --token-reuse >= 10x fresh RS256, p99 < 5 ms at half the
# RS256 rate, 100k FICs >= 0.90x 10 FICs, RSS < 150 MB. Rates are per
# CPU-second wif received. If the two baseline runs differ by more than 5%,
# the summary says so: repeat the run. Everything is on 127.0.0.1; every
# run is bounded in time; wif is stopped on exit.
#
# Environment (defaults in brackets):
#   DURATION [8s]        length of each timed phase
#   CONCURRENCY [32]     closed-loop in-flight requests
#   PROTO [h1]           h1 (HTTP/1.1 keep-alive) or h2
#   SERVER_CPU [0] GEN_CPU [1]
#   BIG_IDENTITIES [10000] BIG_FICS [100000] BIG_CLIENTS [1000] BIG_ISSUERS [1000]
#   RS_RATE_CAP [2500] HIGH_RATE_CAP [14000]
#                        assertions pre-minted per second of DURATION (a run
#                        stops early, and says so, if they run out)
#   NICE [0]             run server, generator and baseline under "nice -n
#                        $NICE" (e.g. -10, as root) on a machine shared with
#                        other work, so that it disturbs the figures less
#   OUT [mktemp -d]      where JSON results, logs and binaries go
#   ONLY                 space-separated subset: rs256 es256 reuse fics100k
#   WIF_ARGS             extra wif serve flags for rs256 and fics100k (e.g. a
#                        --store; scripts/bench-postgres.sh sets it)
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-8s}
. scripts/bench-lib.sh
CONCURRENCY=${CONCURRENCY:-32}
PROTO=${PROTO:-h1}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
BIG_IDENTITIES=${BIG_IDENTITIES:-10000}
BIG_FICS=${BIG_FICS:-100000}
BIG_CLIENTS=${BIG_CLIENTS:-1000}
BIG_ISSUERS=${BIG_ISSUERS:-1000}
RS_RATE_CAP=${RS_RATE_CAP:-2500}
HIGH_RATE_CAP=${HIGH_RATE_CAP:-14000}
ONLY=${ONLY:-rs256 es256 reuse fics100k}
NICE=${NICE:-0}
WIF_ARGS=${WIF_ARGS:-}
OUT=${OUT:-$(mktemp -d /tmp/wif-bench.XXXXXX)}
mkdir -p "$OUT"

need_two_cpus server

stop_on_exit "$OUT/wif.pid"
build_tools ./test/load
LOAD=$OUT/bin/load

bench_env "duration $DURATION, concurrency $CONCURRENCY, proto $PROTO, server core $SERVER_CPU, generator core $GEN_CPU, nice $NICE"

# run NAME TIMEOUT_S ARGS...: one load run, bounded in time.
run() {
	local name=$1 limit=$2
	shift 2
	echo "== $name"
	timeout --signal=INT --kill-after=20 "$limit" nice -n "$NICE" "$LOAD" run -wif "$OUT/bin/wif" \
		-server-cpus "$SERVER_CPU" -generator-cpus "$GEN_CPU" -proto "$PROTO" \
		-concurrency "$CONCURRENCY" -duration "$DURATION" -pid-file "$PIDFILE" \
		-name "$name" -json "$OUT/$name.json" "$@" 2> >(tee "$OUT/$name.log" >&2)
}
sign() {
	echo "== baseline: raw RSA-2048 sign on core $SERVER_CPU ($1)"
	nice -n "$NICE" taskset -c "$SERVER_CPU" "$LOAD" sign -duration 5s -json "$OUT/$1.json"
}
want() { [[ " $ONLY " == *" $1 "* ]]; }

status=0
sign baseline1
if want rs256; then
	run rs256 $((DUR_S * 3 + 120)) -wif-args "$WIF_ARGS" -assertions $((RS_RATE_CAP * DUR_S)) -rate-fraction 0.5 || status=1
fi
sign baseline2
if want es256; then
	run es256 $((DUR_S * 3 + 180)) -wif-args "--token-signing-alg ES256" -assertions $((HIGH_RATE_CAP * DUR_S)) || status=1
fi
if want reuse; then
	run reuse $((DUR_S * 3 + 180)) -wif-args "--token-reuse" -assertions $((HIGH_RATE_CAP * DUR_S)) || status=1
fi
if want fics100k; then
	run fics100k $((DUR_S * 3 + 900)) -wif-args "$WIF_ARGS" -identities "$BIG_IDENTITIES" -fics "$BIG_FICS" \
		-clients "$BIG_CLIENTS" -issuers "$BIG_ISSUERS" -setup-concurrency 16 \
		-assertions $((RS_RATE_CAP * DUR_S)) || status=1
fi

echo
echo "== summary ($OUT)"
cat "$OUT/env.txt"
args=(-baseline "$OUT/baseline1.json" -baseline2 "$OUT/baseline2.json" -json "$OUT/summary.json")
for s in rs256 es256 reuse fics100k; do
	[[ -s $OUT/$s.json ]] || continue
	args+=(-"$s" "$OUT/$s.json")
	[[ $s == rs256 ]] && args+=(-half "$OUT/$s.json")
done
"$LOAD" report "${args[@]}" | tee "$OUT/summary.txt" || status=1
exit $status
