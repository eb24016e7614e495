package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/wifproject/wif/test/load/loadkit"
)

// SignResult is the baseline: raw RSA-2048 signing on one goroutine.
type SignResult struct {
	Kind        string  `json:"kind"` // "sign"
	Name        string  `json:"name"`
	Signs       int     `json:"signs"`
	Seconds     float64 `json:"seconds"`
	SignsPerSec float64 `json:"signsPerSec"`
	// PerCPUSec is signs per second of CPU time actually received, which
	// discounts other processes sharing the core.
	CPUSeconds float64 `json:"cpuSeconds"`
	PerCPUSec  float64 `json:"signsPerCpuSec"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Start      string  `json:"start"`
}

// runSign measures rsa.SignPKCS1v15 with SHA-256 over a JWT-sized message,
// single-threaded, as wif's RS256 signer does it (hash included).
func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dur := fs.Duration("duration", 5*time.Second, "how long to sign")
	jsonOut := fs.String("json", "", "write the result as JSON to this file")
	name := fs.String("name", "raw RSA-2048 sign", "label")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	msg := make([]byte, 700) // about a wif access token's signing input
	rand.Read(msg)
	// Warm up (page in, CPU frequency) outside the window.
	for range 50 {
		d := sha256.Sum256(msg)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:]); err != nil {
			return err
		}
	}
	start := time.Now()
	cpu0 := loadkit.CPUTime(0)
	deadline := start.Add(*dur)
	n := 0
	for ctx.Err() == nil {
		for range 16 {
			msg[0]++ // a different message each time
			d := sha256.Sum256(msg)
			if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:]); err != nil {
				return err
			}
		}
		n += 16
		if time.Now().After(deadline) {
			break
		}
	}
	el := time.Since(start).Seconds()
	cpu := (loadkit.CPUTime(0) - cpu0).Seconds()
	res := SignResult{CPUSeconds: cpu, PerCPUSec: float64(n) / cpu, Kind: "sign", Name: *name, Signs: n, Seconds: el, SignsPerSec: float64(n) / el, GOMAXPROCS: runtime.GOMAXPROCS(0), Start: start.UTC().Format(time.RFC3339)}
	fmt.Fprintf(stdout, "%s: %.0f signs/s (%d in %.2fs, one goroutine); %.0f signs per CPU-second (%.0f%% of the core)\n", res.Name, res.SignsPerSec, n, el, res.PerCPUSec, 100*cpu/el)
	return loadkit.WriteJSON(*jsonOut, res)
}
