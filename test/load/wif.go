package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// bootstrap is what wif writes to bootstrap.json.
type bootstrap struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	AuthorityHost  string `json:"authorityHost"`
	ARMEndpoint    string `json:"armEndpoint"`
	CAFile         string `json:"caFile"`
}

// wifProc is a running "wif serve".
type wifProc struct {
	cmd  *exec.Cmd
	Pid  int
	Base string // https://127.0.0.1:PORT
	Boot bootstrap
	log  *os.File
}

// startWif runs wif serve, pinned with taskset when cpus is set, and waits
// until it is healthy.
func startWif(ctx context.Context, bin, cpus, dataDir, logPath string, extra []string) (*wifProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:" + port}, extra...)
	name := bin
	if cpus != "" {
		// taskset execs wif, so the pid is wif's.
		args = append([]string{"-c", cpus, bin}, args...)
		name = "taskset"
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	w := &wifProc{cmd: cmd, Pid: cmd.Process.Pid, Base: "https://127.0.0.1:" + port, log: logf}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dataDir, "bootstrap.json"))
		if err == nil && json.Unmarshal(b, &w.Boot) == nil && w.Boot.ClientSecret != "" {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			w.Stop()
			return nil, fmt.Errorf("wif did not write bootstrap.json (see %s)", logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hc, err := clientTrusting(w.Boot.CAFile, "h1", 4)
	if err != nil {
		w.Stop()
		return nil, err
	}
	for {
		resp, err := hc.Get(w.Base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			w.Stop()
			return nil, fmt.Errorf("wif not healthy: %v (see %s)", err, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return w, nil
}

// Stop interrupts wif and waits up to 10s before killing it.
func (w *wifProc) Stop() {
	w.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
	w.log.Close()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, nil
}

// clientTrusting returns a keep-alive HTTPS client trusting caFile. proto
// h1 disables HTTP/2; h2 forces it.
func clientTrusting(caFile, proto string, conns int) (*http.Client, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no certificates in " + caFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: "localhost"},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	switch proto {
	case "h1":
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	case "h2":
		tr.ForceAttemptHTTP2 = true
		tr.MaxConnsPerHost = 0
	default:
		return nil, fmt.Errorf("-proto %q: want h1 or h2", proto)
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// memStat is a process's resident memory, from /proc/PID/status.
type memStat struct {
	RSSKiB int64 `json:"rssKiB"`
	HWMKiB int64 `json:"hwmKiB"`
}

func readMem(pid int) (memStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStat{}, err
	}
	var m memStat
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSSKiB = n
		case "VmHWM":
			m.HWMKiB = n
		}
	}
	return m, nil
}

// cpuTime is a process's user+system CPU time, from /proc/PID/stat
// (USER_HZ is 100 on Linux).
func cpuTime(pid int) time.Duration {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// coreBusy returns the busy and total jiffies of one core, from /proc/stat,
// to show whether anything else ran on the server's core.
func coreBusy(core string) (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu"+core {
			continue
		}
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
	}
	return busy, total
}

// pinSelf moves every thread of this process to cpus with taskset.
func pinSelf(cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -p -c %s: %v: %s", cpus, err, out)
	}
	return nil
}

// startPerf samples pid's call stacks into out until the returned func is
// called.
func startPerf(out string, pid int) (func(), error) {
	cmd := exec.Command("perf", "record", "-g", "-F", "999", "-o", out, "-p", strconv.Itoa(pid))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // let it attach
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}, nil
}
