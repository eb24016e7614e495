#!/usr/bin/env bash
# bench-keyvault.sh: loopback benchmark of wif's Key Vault data plane.
#
# An authenticated GET of the latest version of a secret
# (GET https://kvbench.vault.localhost:PORT/secrets/bench/, what azsecrets'
# GetSecret sends), over HTTPS with HTTP/1.1 keep-alive, with wif pinned to
# one core (taskset -c $SERVER_CPU) and the load generator on the other
# ($GEN_CPU): the whole benchmark fits this 2-core machine.
#
#   1. closed loop, $CONCURRENCY in flight: the maximum rate
#   2. open loop at $RATE requests/s: latency at that rate, counted from
#      each request's scheduled send time
#
# Targets: at least 5,000 req/s (closed loop) and p99 under 5 ms at
# 5,000 req/s (open loop). Prints PASS/FAIL per target and exits 1 if one
# fails. Everything is on 127.0.0.1; wif is stopped on exit. No /etc/hosts
# entry is needed (the generator dials 127.0.0.1 and verifies the vault
# host name in TLS).
#
# Environment (defaults in brackets):
#   DURATION [10s]   length of each timed phase
#   CONCURRENCY [16] closed-loop in-flight requests
#   RATE [5000]      open-loop rate
#   TARGET_RPS [5000] TARGET_P99_MS [5]
#   SERVER_CPU [0] GEN_CPU [1]   (empty: no pinning)
#   WIF_ARGS         extra flags for wif serve, e.g. "--log-level warn"
#   NICE [0]         run under "nice -n $NICE" (e.g. -10 as root on a shared machine)
#   OUT [mktemp -d]  where the JSON result, logs and binaries go
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
. scripts/bench-lib.sh
CONCURRENCY=${CONCURRENCY:-16}
RATE=${RATE:-5000}
TARGET_RPS=${TARGET_RPS:-5000}
TARGET_P99_MS=${TARGET_P99_MS:-5}
SERVER_CPU=${SERVER_CPU-0}
GEN_CPU=${GEN_CPU-1}
WIF_ARGS=${WIF_ARGS:-}
NICE=${NICE:-0}
OUT=${OUT:-$(mktemp -d /tmp/wif-bench-kv.XXXXXX)}
mkdir -p "$OUT"

if [[ -n $SERVER_CPU || -n $GEN_CPU ]]; then
	command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 2; }
	if (( $(nproc) < 2 )); then
		echo "need at least 2 CPUs (server and generator on separate cores), or SERVER_CPU= GEN_CPU=" >&2
		exit 2
	fi
fi

stop_on_exit "$OUT/wif.pid"
build_tools ./test/load/kvload

bench_env "duration $DURATION, concurrency $CONCURRENCY, open-loop rate $RATE/s, server core '$SERVER_CPU', generator core '$GEN_CPU', nice $NICE, wif args '$WIF_ARGS'"

timeout --signal=INT --kill-after=20 $((DUR_S * 3 + 120)) nice -n "$NICE" "$OUT/bin/kvload" -wif "$OUT/bin/wif" \
	-wif-args "$WIF_ARGS" -server-cpus "$SERVER_CPU" -generator-cpus "$GEN_CPU" \
	-concurrency "$CONCURRENCY" -duration "$DURATION" -rate "$RATE" \
	-pid-file "$PIDFILE" -json "$OUT/keyvault.json" | tee "$OUT/keyvault.txt"
status=${PIPESTATUS[0]}
(( status == 0 )) || { echo "kvload failed ($status)" >&2; exit "$status"; }

echo
echo "== summary ($OUT)"
"$OUT/bin/kvload" report -json "$OUT/keyvault.json" -target-rps "$TARGET_RPS" -target-p99-ms "$TARGET_P99_MS" | tee "$OUT/summary.txt"
