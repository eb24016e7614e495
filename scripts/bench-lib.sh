# bench-lib.sh: what the benchmark scripts share. Source it after setting
# DURATION's default; it sets DUR_S and defines the helpers below.

# DUR_S: DURATION (whole seconds, 1s to 120s) as a number.
DUR_S=${DURATION%s}
if ! [[ $DUR_S =~ ^[0-9]+$ ]] || (( DUR_S < 1 || DUR_S > 120 )); then
	echo "DURATION must be whole seconds between 1s and 120s, got $DURATION" >&2
	exit 2
fi

# need_two_cpus WHAT: taskset and two CPUs, for WHAT and the generator on
# separate cores.
need_two_cpus() {
	command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 2; }
	if (( $(nproc) < 2 )); then
		echo "need at least 2 CPUs ($1 and generator on separate cores)" >&2
		exit 2
	fi
}

# bench_env LINE...: the machine, toolchain and code a run measured, then
# the script's own settings, printed and kept in $OUT/env.txt.
bench_env() {
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
		echo "kernel: $(uname -r)"
		echo "go: $(go version | cut -d' ' -f3-)"
		echo "wif: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty')"
		echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
		printf '%s\n' "$@"
	} | tee "$OUT/env.txt"
}

# stop_on_exit PIDFILE: on exit or interrupt, kill every process whose id
# is a line of PIDFILE (after calling before_cleanup, if the script
# defines it).
stop_on_exit() {
	PIDFILE=$1
	trap bench_cleanup EXIT
	trap 'bench_cleanup; exit 130' INT TERM
}
bench_cleanup() {
	if declare -F before_cleanup >/dev/null; then before_cleanup; fi
	if [[ -s $PIDFILE ]]; then
		while read -r pid; do
			kill "$pid" 2>/dev/null || true
		done <"$PIDFILE"
		rm -f "$PIDFILE"
	fi
}

# build_tools PKG...: wif and the given load tools into $OUT/bin.
build_tools() {
	echo "== building into $OUT/bin"
	go build -o "$OUT/bin/wif" ./cmd/wif
	local p
	for p in "$@"; do go build -o "$OUT/bin/" "$p"; done
}
