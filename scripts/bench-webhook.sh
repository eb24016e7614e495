#!/usr/bin/env bash
# bench-webhook.sh: loopback benchmark of wif's admission webhook.
#
# Builds wif and the load tool (test/load/whload), makes sure kube-apiserver
# and etcd are there (scripts/kube-apiserver.sh build), then in one run:
# starts etcd + kube-apiserver on 127.0.0.1, creates $SERVICE_ACCOUNTS
# service accounts over $NAMESPACES namespaces, starts
# "taskset -c $SERVER_CPU wif webhook", waits until its informer cache holds
# them all, and drives POST /mutate-v1-pod with AdmissionReview v1 bodies
# over HTTP/2 (as kube-apiserver calls it) from core $GEN_CPU: closed loop at
# $CONCURRENCY for $DURATION, then (RATE > 0) open loop at $RATE/s. Prints
# reviews/s, p50/p90/p99, errors, the webhook's RSS and PASS/FAIL per target:
#   >= 10,000 reviews per webhook CPU-second and p99 < 5 ms at concurrency 8
#   on one core (judged for the Go client and, when present, h2load),
#   peak RSS (VmHWM) < 60 MB with 10k cached service accounts, 0 errors;
#   the open loop is judged on errors only (its p99 also holds the Go
#   generator's own lag, which it prints).
# Exits non-zero when a target fails. Bounded in time; every process it
# started is stopped on exit.
#
# Environment (defaults in brackets):
#   DURATION [10s]            length of each timed phase (1s..120s)
#   CONCURRENCY [8]           closed-loop in-flight reviews
#   RATE [5000]               open-loop phase rate (0: none)
#   SERVICE_ACCOUNTS [10000]  NAMESPACES [100]
#   SERVER_CPU [0] GEN_CPU [1]
#   NICE [0]                  run under "nice -n $NICE" (e.g. -10 as root) on a shared machine
#   WEBHOOK_ENV []            extra environment for wif webhook, e.g. "GOGC=200 GOMEMLIMIT=40MiB"
#                             (the webhook itself leaves the Go runtime's defaults)
#   H2LOAD [h2load on PATH]   h2load binary (Debian: nghttp2-client) for a second closed
#                             loop driven by a C generator; empty or absent: that phase is skipped
#   PERF [0]                  1: "perf record -g" the webhook during the closed loop
#                             into $OUT/webhook.perf (perf report -i ... --no-children)
#   OUT [mktemp -d]           where the binaries, JSON result, logs and summary go
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
. scripts/bench-lib.sh
CONCURRENCY=${CONCURRENCY:-8}
RATE=${RATE:-5000}
SERVICE_ACCOUNTS=${SERVICE_ACCOUNTS:-10000}
NAMESPACES=${NAMESPACES:-100}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
NICE=${NICE:-0}
PERF=${PERF:-0}
WEBHOOK_ENV=${WEBHOOK_ENV:-}
H2LOAD=${H2LOAD-$(command -v h2load || true)}
OUT=${OUT:-$(mktemp -d /tmp/wif-bench-webhook.XXXXXX)}
mkdir -p "$OUT"

need_two_cpus webhook

# The generator first, so that it does not report the others' deaths.
before_cleanup() {
	if [[ -n ${WHLOAD_PID:-} ]]; then
		kill "$WHLOAD_PID" 2>/dev/null || true
		sleep 1
	fi
}
stop_on_exit "$OUT/pids"
build_tools ./test/load/whload
eval "$(scripts/kube-apiserver.sh build)"

bench_env "service accounts $SERVICE_ACCOUNTS in $NAMESPACES namespaces; duration $DURATION, concurrency $CONCURRENCY, open-loop rate $RATE/s; webhook core $SERVER_CPU, generator core $GEN_CPU; nice $NICE${WEBHOOK_ENV:+; webhook env $WEBHOOK_ENV}"

args=(-wif "$OUT/bin/wif" -kube-apiserver "$KUBE_APISERVER" -etcd "$ETCD"
	-service-accounts "$SERVICE_ACCOUNTS" -namespaces "$NAMESPACES"
	-server-cpus "$SERVER_CPU" -generator-cpus "$GEN_CPU"
	-concurrency "$CONCURRENCY" -duration "$DURATION" -rate "$RATE"
	-pid-file "$PIDFILE" -json "$OUT/result.json" -webhook-env "$WEBHOOK_ENV")
[[ $PERF == 1 ]] && args+=(-perf "$OUT/webhook.perf")
if [[ -n $H2LOAD ]]; then
	args+=(-h2load "$H2LOAD")
else
	echo "h2load not found (apt-get install nghttp2-client): skipping the h2load closed loop" >&2
fi

echo "== run"
status=0
# Setup (10k creates) takes well under a minute here; the bound leaves room
# for a slow shared machine.
timeout --signal=INT --kill-after=30 $((DUR_S * 2 + 600)) \
	nice -n "$NICE" "$OUT/bin/whload" "${args[@]}" >"$OUT/summary.txt" 2> >(tee "$OUT/whload.log" >&2) &
WHLOAD_PID=$!
wait "$WHLOAD_PID" || status=$?
WHLOAD_PID=

echo
echo "== summary ($OUT)"
cat "$OUT/env.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$OUT/summary.txt"
exit $status
