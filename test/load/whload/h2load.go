package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wifproject/wif/test/load/loadkit"
)

// h2loadPhase drives the webhook with nghttp2's h2load, a C HTTP/2 load
// generator, closed loop: one connection with conc concurrent streams, as
// kube-apiserver multiplexes its calls, for d (the Go client's closed loop
// has just warmed the webhook up).
// It sends body (one AdmissionReview) every time and reads each request's
// latency from h2load's per-request log. Next to the Go client's phase it
// shows how much of the percentiles is the generator's own: this one costs
// a fraction of the CPU per request.
func (lg *loadGen) h2loadPhase(ctx context.Context, bin, dir string, body []byte, conc int, d time.Duration) (Phase, error) {
	bodyFile, logFile := filepath.Join(dir, "h2load-review.json"), filepath.Join(dir, "h2load.log")
	if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
		return Phase{}, err
	}
	_ = os.Remove(logFile) // h2load appends
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	var out []byte
	var runErr error
	s := loadkit.External(lg.t, func() ([]time.Duration, []string) {
		cmd := exec.CommandContext(ctx, bin, "-c", "1", "-m", strconv.Itoa(conc), "-D", strconv.Itoa(secs),
			"-d", bodyFile, "-H", "content-type: application/json", "-H", "accept: application/json, */*",
			"--log-file="+logFile, lg.url)
		out, runErr = cmd.CombinedOutput()
		if runErr != nil {
			return nil, nil
		}
		lats, errs, err := readH2loadLog(logFile)
		if err != nil {
			runErr = err
		}
		return lats, errs
	})
	if runErr != nil {
		return Phase{}, fmt.Errorf("h2load: %v\n%s", runErr, out)
	}
	p := phaseOf("closed", conc, 0, s)
	p.Generator = "h2load"
	return p, nil
}

// readH2loadLog reads h2load's --log-file: per request, tab-separated, the
// start time and the latency in microseconds around the status code. The
// streams still open when the duration ends are logged with status 0 and
// are skipped: they were never answered, nor failed.
func readH2loadLog(path string) (lats []time.Duration, errs []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			return nil, nil, fmt.Errorf("h2load log line %q", sc.Text())
		}
		us, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("h2load log line %q: %v", sc.Text(), err)
		}
		if fields[1] == "0" {
			continue
		}
		if fields[1] != "200" {
			errs = append(errs, "HTTP "+fields[1])
			continue
		}
		lats = append(lats, time.Duration(us)*time.Microsecond)
	}
	return lats, errs, sc.Err()
}
