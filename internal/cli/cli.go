// Package cli is the wif command line: "wif serve" runs the server, and
// the other commands mirror the Azure CLI (same nouns, verbs, flags,
// --query and -o) as thin clients of wif's ARM API.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/output"
	"github.com/wifproject/wif/internal/server"
)

// env is the process environment, passed explicitly.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// output flags shared by every client command
	query  string
	format string
}

// Run executes the wif command line with args (without the program name).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := &cobra.Command{
		Use:   "wif",
		Short: "Self-hosted workload identity federation, compatible with Azure clients",
		Long: `wif is a self-hosted workload identity federation platform and a stand-in for the Azure side of AKS
workload identity: an Entra ID-compatible token service, an ARM-compatible control plane, cluster OIDC
issuers, the workload identity admission webhook and a Key Vault secrets service, all in this binary.
Run 'wif serve' to start it, then drive it with the az-style commands below.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// az rejects a bad --query or -o before the command does anything.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if _, err := output.ParseFormat(e.format); e.format != "" && err != nil {
				return err
			}
			return output.ValidateQuery(e.query)
		},
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(e.serveCmd(), e.loginCmd(), e.logoutCmd(), e.accountCmd(), e.groupCmd(), e.identityCmd(), e.roleCmd(), e.keyvaultCmd(), e.aksCmd(), e.federateCmd(), e.explainCmd(), e.webhookCmd(), e.storeCmd())
	return root.ExecuteContext(ctx)
}

// addOutputFlags adds az's --query and -o/--output.
func (e *env) addOutputFlags(c *cobra.Command) {
	c.Flags().StringVar(&e.query, "query", "", "JMESPath query string. See http://jmespath.org/ for more information and examples.")
	c.Flags().StringVarP(&e.format, "output", "o", "json", "Output format: json, jsonc, none, table, tsv.")
}

// print renders v with the command's --query and -o.
func (e *env) print(v any) error {
	f, err := output.ParseFormat(e.format)
	if err != nil {
		return err
	}
	return output.Write(e.stdout, v, e.query, f)
}

func (e *env) client() (*client, error) {
	return newClient(configDir(e.getenv))
}

// clientFor checks that cmd has the required flags (reporting every
// missing one, like az), then returns the logged-in client.
func (e *env) clientFor(cmd *cobra.Command, required ...string) (*client, error) {
	if err := requireFlags(cmd, required...); err != nil {
		return nil, err
	}
	return e.client()
}

func (e *env) serveCmd() *cobra.Command {
	cfg := server.DefaultConfig(e.getenv)
	var lf logFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the wif server over HTTPS: token service, control plane, cluster OIDC issuers and Key Vault",
		Long: `Run the wif server over HTTPS. On first start it creates, in --data-dir:
  ca.pem / ca-key.pem   a local CA that clients must trust
  wif.db                the SQLite store (unless --store says otherwise)
  kek.bin               the key that seals Key Vault secret values and signing keys (back it up with the store)
  bootstrap.json        tenant, subscription and an admin service principal with Owner
Restarts reuse all of them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, closeLog, err := lf.logger(e.stderr)
			if err != nil {
				return err
			}
			defer closeLog()
			return server.Run(cmd.Context(), cfg, log, e.stdout, nil)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "Directory for the CA, the SQLite store and bootstrap.json (env WIF_DATA_DIR)")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "Address to listen on")
	f.StringVar(&cfg.PublicURL, "public-url", "", "URL clients use to reach wif (default https://localhost:<listen port>)")
	f.StringVar(&cfg.Store, "store", "", "Store DSN: sqlite://<path> (default sqlite://<data-dir>/wif.db), or postgres://user:pass@host:5432/db?sslmode=verify-full for replicas (see docs/replicas.md)")
	f.StringVar(&cfg.ExtraCAFile, "extra-ca-file", "", "PEM file of CAs trusted, besides the system roots, when fetching issuer discovery and JWKS")
	f.StringSliceVar(&cfg.IssuerFetchAllow, "issuer-fetch-allow", nil, "Hosts (*.example.com for subdomains), IP addresses and CIDR prefixes that issuer discovery and JWKS fetches may connect to (repeatable or comma-separated; default any address except link-local and cloud metadata)")
	f.StringVar(&cfg.TokenSigningAlg, "token-signing-alg", cfg.TokenSigningAlg, "Access token signing algorithm: RS256 or ES256")
	f.DurationVar(&cfg.TokenLifetime, "token-lifetime", cfg.TokenLifetime, "Access token lifetime")
	f.BoolVar(&cfg.TokenReuse, "token-reuse", false, "Return a still-fresh token minted for the same client, resource and authentication method instead of signing a new one")
	f.IntVar(&cfg.MaxFICsPerIdentity, "max-federated-credentials", cfg.MaxFICsPerIdentity, "Maximum federated identity credentials per identity")
	f.StringVar(&cfg.VaultDNSSuffix, "vault-dns-suffix", cfg.VaultDNSSuffix, "DNS suffix of Key Vault hosts ({vault}.<suffix>)")
	f.StringArrayVar(&cfg.Audiences, "audience", nil, "A resource (URI with a host, or GUID) to issue tokens for besides the Azure ones wif knows, e.g. api://orders (repeatable)")
	f.DurationVar(&cfg.CacheTTL, "cache-ttl", cfg.CacheTTL, "How long cached identities and credentials live (bounds how long other replicas' changes take to apply)")
	f.IntVar(&cfg.Limits.MaxConns, "max-conns", cfg.Limits.MaxConns, "Maximum open connections; more are closed as they are accepted")
	f.IntVar(&cfg.Limits.MaxConnsPerClient, "max-conns-per-client", cfg.Limits.MaxConnsPerClient, "Maximum open connections per client address (IPv4 address or IPv6 /64)")
	f.DurationVar(&cfg.Limits.TokenBody, "body-timeout-token", cfg.Limits.TokenBody, "How long a request body may take to arrive at the token service (and every path but ARM and Key Vault)")
	f.DurationVar(&cfg.Limits.APIBody, "body-timeout-api", cfg.Limits.APIBody, "How long a request body may take to arrive at ARM and Key Vault")
	lf.add(c)
	c.AddCommand(e.serveInstallCmd())
	return c
}

func (e *env) loginCmd() *cobra.Command {
	var bootstrap, user, password, tenant, serverURL, caFile, subscription string
	var sp bool
	c := &cobra.Command{
		Use:   "login",
		Short: "Log in to wif with the bootstrap credentials or a service principal",
		Example: `  wif login --bootstrap ~/.local/share/wif/bootstrap.json
  wif login --service-principal -u CLIENT_ID -p SECRET --tenant TENANT --server https://localhost:8443 --ca-file ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var p Profile
			switch {
			case bootstrap != "":
				b, err := os.ReadFile(bootstrap)
				if err != nil {
					return err
				}
				var bs server.Bootstrap
				if err := json.Unmarshal(b, &bs); err != nil {
					return fmt.Errorf("%s: %w", bootstrap, err)
				}
				p = Profile{Server: strings.TrimSuffix(bs.ARMEndpoint, "/"), TenantID: bs.TenantID, SubscriptionID: bs.SubscriptionID,
					ClientID: bs.ClientID, ClientSecret: bs.ClientSecret, CAFile: bs.CAFile}
			case sp:
				var missing []string
				for flag, v := range map[string]string{"--username": user, "--password": password, "--tenant": tenant, "--server": serverURL} {
					if v == "" {
						missing = append(missing, flag)
					}
				}
				if len(missing) > 0 {
					return fmt.Errorf("the following arguments are required: %s", strings.Join(missing, ", "))
				}
				p = Profile{Server: strings.TrimSuffix(serverURL, "/"), TenantID: tenant, ClientID: user, ClientSecret: password}
				if caFile != "" {
					abs, err := filepath.Abs(caFile)
					if err != nil {
						return err
					}
					p.CAFile = abs
				}
			default:
				return errors.New("use --bootstrap FILE or --service-principal -u -p --tenant --server")
			}
			if u, err := url.Parse(p.Server); err != nil || u.Scheme != "https" {
				return fmt.Errorf("server %q must be an https URL", p.Server)
			}
			hc, err := newHTTPClient(p.CAFile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if _, err := acquireToken(ctx, hc, p.Server, p.TenantID, p.ClientID, p.ClientSecret, p.Server); err != nil {
				return err
			}
			dir := configDir(e.getenv)
			if err := saveProfile(dir, p); err != nil {
				return err
			}
			cl, err := newClient(dir)
			if err != nil {
				return err
			}
			subs, err := listOf[armapi.Subscription](ctx, cl, "/subscriptions")
			if err != nil {
				return err
			}
			if subscription != "" {
				p.SubscriptionID = subscription
			} else if p.SubscriptionID == "" && len(subs) > 0 {
				p.SubscriptionID = subs[0].SubscriptionID
			}
			if err := saveProfile(dir, p); err != nil {
				return err
			}
			out := make([]any, 0, len(subs))
			for _, s := range subs {
				out = append(out, map[string]any{
					"cloudName": "wif", "id": s.SubscriptionID, "isDefault": s.SubscriptionID == p.SubscriptionID,
					"name": s.DisplayName, "state": s.State, "tenantId": s.TenantID,
					"user": map[string]any{"name": p.ClientID, "type": "servicePrincipal"},
				})
			}
			return e.print(out)
		},
	}
	f := c.Flags()
	f.StringVar(&bootstrap, "bootstrap", "", "Path of wif's bootstrap.json")
	f.BoolVar(&sp, "service-principal", false, "Log in with a service principal's client id and secret")
	f.StringVarP(&user, "username", "u", "", "Client id of the service principal")
	f.StringVarP(&password, "password", "p", "", "Client secret of the service principal")
	f.StringVarP(&tenant, "tenant", "t", "", "Tenant id")
	f.StringVar(&serverURL, "server", "", "wif's URL, e.g. https://localhost:8443")
	f.StringVar(&caFile, "ca-file", "", "CA bundle that signs wif's certificate")
	f.StringVar(&subscription, "subscription", "", "Default subscription")
	e.addOutputFlags(c)
	return c
}

func (e *env) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the stored login",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			dir := configDir(e.getenv)
			for _, f := range []string{"profile.json", "token.json"} {
				if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			return nil
		},
	}
}

func (e *env) accountCmd() *cobra.Command {
	c := &cobra.Command{Use: "account", Short: "Show the logged-in account"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the current subscription and principal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadProfile(configDir(e.getenv))
			if err != nil {
				return err
			}
			return e.print(map[string]any{
				"environmentName": "wif", "id": p.SubscriptionID, "isDefault": true, "name": "wif default subscription",
				"state": "Enabled", "tenantId": p.TenantID, "homeTenantId": p.TenantID, "managedByTenants": []any{},
				"user": map[string]any{"name": p.ClientID, "type": "servicePrincipal"},
			})
		},
	}
	e.addOutputFlags(show)
	c.AddCommand(show)
	return c
}

// subscriptionFlag adds --subscription and returns a resolver.
func subscriptionFlag(c *cobra.Command) func(*client) string {
	var sub string
	c.Flags().StringVar(&sub, "subscription", "", "Name or ID of subscription (default: the logged-in default)")
	return func(cl *client) string {
		if sub != "" {
			return sub
		}
		return cl.profile.SubscriptionID
	}
}

func seg(s string) string { return url.PathEscape(s) }
