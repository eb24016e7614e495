// Command load benchmarks wif's token exchange over HTTPS on loopback.
//
// It has three modes:
//
//	load sign   -duration 5s -json out.json
//	    the raw RSA-2048 PKCS#1 v1.5 SHA-256 sign rate on one goroutine:
//	    the baseline. Run it under "taskset -c 0", the server's core.
//	load run    -wif /tmp/wif [-wif-args "--token-signing-alg ES256"] ...
//	    starts a TLS OIDC issuer, runs "taskset -c 0 wif serve", creates
//	    identities and federated credentials through the ARM API, pre-mints
//	    fresh assertions, pins itself to core 1 and drives the token
//	    endpoint closed-loop (maximum rate), optionally followed by an
//	    open-loop phase at a fixed rate (latency at part load).
//	load report -baseline b.json -rs256 r.json ...
//	    prints the summary table with ratios and PASS/FAIL per target.
//
// See docs/benchmarks.md and scripts/bench-sts.sh.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: load sign|run|report [flags]")
	}
	switch args[0] {
	case "sign":
		return runSign(ctx, args[1:], stdout, stderr)
	case "run":
		return runExchange(ctx, args[1:], stdout, stderr)
	case "report":
		return runReport(args[1:], stdout, stderr)
	default:
		return fmt.Errorf("unknown mode %q: want sign, run or report", args[0])
	}
}
