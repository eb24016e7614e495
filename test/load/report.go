package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"

	"github.com/wifproject/wif/test/load/loadkit"
)

// Targets from the issue.
const (
	targetRSARatio    = 0.90  // RS256 exchanges/s over raw RSA-2048 signs/s
	targetES256Rate   = 8_000 // exchanges/s on one core
	targetHalfP99ms   = 5.0   // p99 at half the maximum rate
	targetFICsRatio   = 0.90  // 100k FICs over 10 FICs
	targetRSSBytes    = 150e6 // with 10k identities and 100k FICs
	targetReuseFactor = 10.0  // --token-reuse over fresh RS256
	// maxBaselineDrift is how far the two baseline runs may differ before
	// the run should be repeated: the machine's speed changed under it.
	maxBaselineDrift = 0.05
)

func runReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		baseline  = fs.String("baseline", "", "sign result JSON")
		baseline2 = fs.String("baseline2", "", "second sign result JSON (averaged with the first)")
		rs256     = fs.String("rs256", "", "RS256 fresh, 10 FICs (closed loop)")
		half      = fs.String("half", "", "RS256 open loop at half the maximum rate")
		es256     = fs.String("es256", "", "ES256 fresh, 10 FICs")
		reuse     = fs.String("reuse", "", "RS256 with --token-reuse")
		big       = fs.String("fics100k", "", "RS256 fresh, 100k FICs / 10k identities")
		jsonOut   = fs.String("json", "", "write the summary as JSON here")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sign, sign2 SignResult
	var r, h, e, u, b RunResult
	load := func(path string, v any) bool {
		if path == "" {
			return false
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "report: %v\n", err)
			return false
		}
		if err := json.Unmarshal(raw, v); err != nil {
			fmt.Fprintf(stderr, "report: %s: %v\n", path, err)
			return false
		}
		return true
	}
	hasSign := load(*baseline, &sign)
	drift := 0.0
	if load(*baseline2, &sign2) && hasSign {
		if mean := (sign.PerCPUSec + sign2.PerCPUSec) / 2; mean > 0 {
			drift = math.Abs(sign.PerCPUSec-sign2.PerCPUSec) / mean
		}
		sign.SignsPerSec = (sign.SignsPerSec + sign2.SignsPerSec) / 2
		sign.PerCPUSec = (sign.PerCPUSec + sign2.PerCPUSec) / 2
	}
	// Rates are judged per CPU-second the measured process received (what
	// a whole core does), which discounts other processes that shared the
	// core; wall-clock rates are shown next to them.
	signRate := sign.PerCPUSec
	if signRate == 0 {
		signRate = sign.SignsPerSec
	}
	rate := func(p Phase) float64 {
		if p.PerCPUSec > 0 {
			return p.PerCPUSec
		}
		return p.PerSec
	}
	hasR, hasH, hasE, hasU, hasB := load(*rs256, &r), load(*half, &h), load(*es256, &e), load(*reuse, &u), load(*big, &b)

	type line struct {
		Scenario string  `json:"scenario"`
		Measured string  `json:"measured"`
		Value    float64 `json:"value"`
		Target   string  `json:"target"`
		Pass     bool    `json:"pass"`
	}
	var lines []line
	fail := 0
	add := func(scn, measured string, v float64, target string, pass bool) {
		lines = append(lines, line{scn, measured, v, target, pass})
		if !pass {
			fail++
		}
	}
	closed := func(rr RunResult) Phase {
		if rr.Closed == nil {
			return Phase{}
		}
		return *rr.Closed
	}
	ph := func(p Phase) string {
		out := fmt.Sprintf("%.0f/core-s (wall %.0f/s), p50 %.2f p99 %.2f ms, %d err", rate(p), p.PerSec, p.P50ms, p.P99ms, p.Errors)
		if other := p.CoreBusy - p.ServerCPU; other > 0.10 {
			out += fmt.Sprintf("; %.0f%% of the core went to other processes", 100*other)
		}
		return out
	}
	if hasSign {
		add("raw RSA-2048 sign (1 core)", fmt.Sprintf("%.0f signs/core-s (wall %.0f/s)", signRate, sign.SignsPerSec), signRate, "baseline", true)
	}
	if hasR {
		p := closed(r)
		ratio := 0.0
		if hasSign && signRate > 0 {
			ratio = rate(p) / signRate
		}
		add("RS256 fresh, 10 FICs", ph(p)+fmt.Sprintf("; %.2fx raw sign", ratio), ratio, fmt.Sprintf(">= %.2fx raw sign, 0 errors", targetRSARatio), ratio >= targetRSARatio && p.Errors == 0)
	}
	if hasH && h.Open != nil {
		p := *h.Open
		add(fmt.Sprintf("RS256 at half max (%.0f/s)", p.TargetRate), ph(p), p.P99ms, fmt.Sprintf("p99 < %.0f ms, 0 errors", targetHalfP99ms), p.P99ms < targetHalfP99ms && p.Errors == 0 && p.Requests > 0)
	}
	if hasE {
		p := closed(e)
		add("ES256 fresh, 10 FICs", ph(p), rate(p), fmt.Sprintf(">= %d/s, 0 errors", targetES256Rate), rate(p) >= targetES256Rate && p.Errors == 0)
	}
	if hasU {
		p := closed(u)
		f := 0.0
		if hasR && rate(closed(r)) > 0 {
			f = rate(p) / rate(closed(r))
		}
		add("RS256 --token-reuse", ph(p)+fmt.Sprintf("; %.1fx fresh", f), f, fmt.Sprintf(">= %.0fx RS256 fresh, 0 errors", targetReuseFactor), f >= targetReuseFactor && p.Errors == 0)
	}
	if hasB {
		p := closed(b)
		f := 0.0
		if hasR && rate(closed(r)) > 0 {
			f = rate(p) / rate(closed(r))
		}
		add(fmt.Sprintf("RS256 fresh, %dk FICs / %dk ids", b.FICs/1000, b.Identities/1000), ph(p)+fmt.Sprintf("; %.2fx 10 FICs", f), f, fmt.Sprintf(">= %.2fx 10 FICs, 0 errors", targetFICsRatio), f >= targetFICsRatio && p.Errors == 0)
		rss := float64(max(b.MemSetup.RSSKiB, b.MemLoad.RSSKiB)) * 1024
		add(fmt.Sprintf("RSS, %dk ids + %dk FICs", b.Identities/1000, b.FICs/1000), fmt.Sprintf("%.0f MB (after setup %.0f, after load %.0f, peak %.0f)", rss/1e6, float64(b.MemSetup.RSSKiB)*1024/1e6, float64(b.MemLoad.RSSKiB)*1024/1e6, float64(b.MemLoad.HWMKiB)*1024/1e6), rss/1e6, fmt.Sprintf("< %.0f MB", targetRSSBytes/1e6), rss < targetRSSBytes)
	}
	if len(lines) == 0 {
		return errors.New("report: no results")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMEASURED\tTARGET\tRESULT")
	for _, l := range lines {
		res := "PASS"
		if !l.Pass {
			res = "FAIL"
		}
		if l.Target == "baseline" {
			res = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Scenario, l.Measured, l.Target, res)
	}
	tw.Flush()
	if drift > maxBaselineDrift {
		fmt.Fprintf(stdout, "note: the two baseline runs differ by %.1f%% (more than %.0f%%): the machine's speed changed during the run; repeat it\n", 100*drift, 100*maxBaselineDrift)
	}
	if err := loadkit.WriteJSON(*jsonOut, lines); err != nil {
		return err
	}
	if fail > 0 {
		return fmt.Errorf("%d of %d targets failed", fail, len(lines)-btoi(hasSign))
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
