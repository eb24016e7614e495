package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wifproject/wif/internal/seal"
	"github.com/wifproject/wif/internal/server"
	"github.com/wifproject/wif/internal/store"
)

func (e *env) storeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "store",
		Short: "Manage wif's store: move an embedded SQLite install to PostgreSQL",
	}
	c.AddCommand(e.storeCopyCmd())
	return c
}

func (e *env) storeCopyCmd() *cobra.Command {
	dataDir := server.DefaultDataDir(e.getenv)
	var from, to, kekFile string
	var replace bool
	c := &cobra.Command{
		Use:   "copy --from DSN --to DSN",
		Short: "Copy everything from one store to another (SQLite to PostgreSQL, or back)",
		Long: `Copy every tenant, subscription, resource group, principal with its secrets, managed identity,
federated credential, role assignment, vault with its sealed secrets, cluster with its keys, and the
tenants' signing keys from one store to another, in one transaction on the target. Sealed values are
copied as they are, so the target must be used with the same kek.bin (--kek-file); a target whose
key-encryption key differs is refused and left unchanged.

The target must be empty (a store that no wif serve has started on) unless --replace is given, which
replaces what it holds; copying again with --replace gives the same result. Stop the servers writing to
the source first, or accept that writes made during the copy are not in it.`,
		Example: `  wif store copy --from sqlite://$HOME/.local/share/wif/wif.db \
    --to 'postgres://wif:secret@db.internal:5432/wif?sslmode=verify-full'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return errors.New("--from and --to are required")
			}
			if kekFile == "" {
				kekFile = filepath.Join(dataDir, "kek.bin")
			}
			raw, err := os.ReadFile(kekFile) // never created here: it must be the source's
			if err != nil {
				return fmt.Errorf("key-encryption key: %w", err)
			}
			kek, err := seal.NewKEK(raw)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			src, err := store.Open(ctx, from, store.WithSealer(kek))
			if err != nil {
				return fmt.Errorf("source: %w", err)
			}
			defer src.Close()
			dst, err := store.Open(ctx, to, store.WithSealer(kek))
			if err != nil {
				return fmt.Errorf("target: %w", err)
			}
			defer dst.Close()
			fmt.Fprintln(e.stderr, "copying in one transaction...")
			total := 0
			err = store.Copy(ctx, src, dst, store.CopyOptions{Replace: replace, Progress: func(table string, n int) {
				total += n
				fmt.Fprintf(e.stderr, "  %-22s %6d rows\n", table, n)
			}})
			if errors.Is(err, store.ErrTargetNotEmpty) {
				return errors.New("the target store is not empty; give --replace to replace what it holds")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "copied %d rows\n", total)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&from, "from", "", "Source store DSN: a SQLite path or sqlite://<path>, or postgres://…")
	f.StringVar(&to, "to", "", "Target store DSN")
	f.StringVar(&kekFile, "kek-file", "", "The key-encryption key both stores are sealed with (default <data-dir>/kek.bin)")
	f.StringVar(&dataDir, "data-dir", dataDir, "wif's data directory, for the default --kek-file (env WIF_DATA_DIR)")
	f.BoolVar(&replace, "replace", false, "Replace what a non-empty target holds")
	return c
}
