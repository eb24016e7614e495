package cli

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/wifproject/wif/internal/reqlog"
)

// logFlags are the --log-format and --log-level flags of the long-running
// commands (serve, webhook).
type logFlags struct{ format, level string }

func (l *logFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&l.format, "log-format", "json", "Log format: json or text")
	c.Flags().StringVar(&l.level, "log-level", "info", "Log level: debug, info, warn, error")
}

// logger returns a logger writing to w through a buffer flushed every
// 200 ms (a write system call per line costs more than the line at
// thousands of requests a second), and the func that flushes and stops it.
func (l *logFlags) logger(w io.Writer) (*slog.Logger, func() error, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level: %w", err)
	}
	if l.format != "json" && l.format != "text" {
		return nil, nil, fmt.Errorf("--log-format %q: must be json or text", l.format)
	}
	logs := reqlog.NewBufferedWriter(w, 200*time.Millisecond)
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewJSONHandler(logs, opts)
	if l.format == "text" {
		h = slog.NewTextHandler(logs, opts)
	}
	return slog.New(h), logs.Close, nil
}
