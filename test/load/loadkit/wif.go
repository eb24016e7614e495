package loadkit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wifproject/wif/internal/server"
)

// Bootstrap is what "wif serve" writes to DATA_DIR/bootstrap.json.
type Bootstrap = server.Bootstrap

// Wif is a running "wif serve".
type Wif struct {
	*Proc
	Port string
	Base string // https://127.0.0.1:PORT
	Boot Bootstrap
}

// StartWif runs "wif serve" on a free loopback port with dataDir and the
// extra flags, pinned with taskset when cpus is set, its output going to
// logPath, and waits (up to 60s) until it has written bootstrap.json and
// answers /healthz.
func StartWif(ctx context.Context, bin, cpus, dataDir, logPath string, extra []string) (*Wif, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	name, args := Taskset(cpus, bin, append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:" + port}, extra...))
	p, err := Start(logPath, nil, name, args...)
	if err != nil {
		return nil, err
	}
	w := &Wif{Proc: p, Port: port, Base: "https://127.0.0.1:" + port}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dataDir, "bootstrap.json"))
		if err == nil && json.Unmarshal(b, &w.Boot) == nil && w.Boot.ClientSecret != "" {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil || p.Exited() {
			w.Stop()
			return nil, fmt.Errorf("wif did not write bootstrap.json (see %s)", logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hc, err := TrustingClient(w.Boot.CAFile, ClientOptions{Proto: "h1", Conns: 4, ServerName: "localhost"})
	if err != nil {
		w.Stop()
		return nil, err
	}
	defer hc.CloseIdleConnections()
	for {
		resp, err := hc.Get(w.Base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return w, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil || p.Exited() {
			w.Stop()
			return nil, fmt.Errorf("wif not healthy: %v (see %s)", err, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop interrupts wif and kills it if it has not exited after 10s.
func (w *Wif) Stop() { w.Proc.Stop(10 * time.Second) }
