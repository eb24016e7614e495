// Command keyvault is an unmodified Azure Key Vault secrets workload: it
// authenticates with azidentity's WorkloadIdentityCredential, configured
// only through the environment variables that the workload identity webhook
// injects (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE,
// AZURE_AUTHORITY_HOST), and talks to a vault with azsecrets.NewClient and
// default client options: the bearer challenge and its resource
// verification are the SDK's own. Trust in wif's CA comes from
// SSL_CERT_FILE.
//
// The only non-default option is DisableInstanceDiscovery, which any
// authority other than login.microsoftonline.com needs.
//
//	keyvault [-vault https://myvault.vault.localhost:8443/] COMMAND [flags]
//
// The vault URL defaults to $AZURE_KEYVAULT_URL. Commands (one SDK call
// each; results are printed as JSON on stdout, in the SDK's wire form):
//
//	set          -name N -value V [-content-type T] [-tags k=v,...] [-enabled=false] [-nbf UNIX] [-exp UNIX]
//	get          -name N [-version V]
//	update       -name N [-version V] [-content-type T] [-tags k=v,...] [-enabled true|false]
//	list                          {"value":[...],"pages":n}
//	versions     -name N          {"value":[...],"pages":n}
//	delete       -name N
//	get-deleted  -name N
//	list-deleted                  {"value":[...],"pages":n}
//	recover      -name N
//	purge        -name N          {}
//	backup       -name N          {"value":"<base64url>"}
//	restore      -blob B          (B as printed by backup)
//	batch        reads one command per line from stdin and prints one JSON
//	             line per command, reusing one client (and one token)
//
// A failed call prints {"error":{"status":403,"code":"Forbidden","message":...}}
// on stdout and the SDK's error on stderr, and exits with status 1 (in
// batch mode the error line is printed and the next command runs).
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// errReported is returned after a failed call was already printed.
var errReported = errors.New("keyvault: the call failed")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keyvault", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vault := fs.String("vault", os.Getenv("AZURE_KEYVAULT_URL"), "vault URL, e.g. https://myvault.vault.localhost:8443/ (default $AZURE_KEYVAULT_URL)")
	timeout := fs.Duration("timeout", 60*time.Second, "overall timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *vault == "" {
		return errors.New("keyvault: -vault or AZURE_KEYVAULT_URL is required")
	}
	if fs.NArg() == 0 {
		return errors.New("keyvault: a command is required (set, get, update, list, versions, delete, get-deleted, list-deleted, recover, purge, backup, restore, batch)")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{DisableInstanceDiscovery: true})
	if err != nil {
		return err
	}
	client, err := azsecrets.NewClient(*vault, cred, nil)
	if err != nil {
		return err
	}

	if fs.Arg(0) != "batch" {
		return call(ctx, client, fs.Args(), stdout, stderr)
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := call(ctx, client, strings.Fields(line), stdout, stderr); err != nil && !errors.Is(err, errReported) {
			return err
		}
	}
	return sc.Err()
}

// call runs one command and prints its result (or its error) as one JSON
// line. Usage errors are returned; failed calls return errReported.
func call(ctx context.Context, c *azsecrets.Client, args []string, stdout, stderr io.Writer) error {
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "secret name")
	version := fs.String("version", "", "secret version (default: the latest)")
	value := fs.String("value", "", "secret value")
	contentType := fs.String("content-type", "", "content type")
	tags := fs.String("tags", "", "comma-separated tags k=v (\"-\" for none)")
	enabled := fs.String("enabled", "", "true or false")
	nbf := fs.Int64("nbf", 0, "not-before, Unix seconds")
	exp := fs.Int64("exp", 0, "expiry, Unix seconds")
	blob := fs.String("blob", "", "backup blob (base64url) for restore")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	attrs := func() (*azsecrets.SecretAttributes, error) {
		var a *azsecrets.SecretAttributes
		ensure := func() *azsecrets.SecretAttributes {
			if a == nil {
				a = &azsecrets.SecretAttributes{}
			}
			return a
		}
		if set["enabled"] {
			b, err := strconv.ParseBool(*enabled)
			if err != nil {
				return nil, fmt.Errorf("-enabled %q: %w", *enabled, err)
			}
			ensure().Enabled = &b
		}
		if set["nbf"] {
			t := time.Unix(*nbf, 0).UTC()
			ensure().NotBefore = &t
		}
		if set["exp"] {
			t := time.Unix(*exp, 0).UTC()
			ensure().Expires = &t
		}
		return a, nil
	}
	var ct *string
	if set["content-type"] {
		ct = contentType
	}
	tagMap := parseTags(*tags, set["tags"])
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("keyvault %s: %s is required", cmd, what)
		}
		return nil
	}

	var out any
	var err error
	switch cmd {
	case "set":
		if err := need(*name != "" && set["value"], "-name and -value"); err != nil {
			return err
		}
		a, e := attrs()
		if e != nil {
			return e
		}
		var r azsecrets.SetSecretResponse
		r, err = c.SetSecret(ctx, *name, azsecrets.SetSecretParameters{Value: value, ContentType: ct, SecretAttributes: a, Tags: tagMap}, nil)
		out = r.Secret
	case "get":
		if err := need(*name != "", "-name"); err != nil {
			return err
		}
		var r azsecrets.GetSecretResponse
		r, err = c.GetSecret(ctx, *name, *version, nil)
		out = r.Secret
	case "update":
		if err := need(*name != "", "-name"); err != nil {
			return err
		}
		a, e := attrs()
		if e != nil {
			return e
		}
		var r azsecrets.UpdateSecretPropertiesResponse
		r, err = c.UpdateSecretProperties(ctx, *name, *version, azsecrets.UpdateSecretPropertiesParameters{ContentType: ct, SecretAttributes: a, Tags: tagMap}, nil)
		out = r.Secret
	case "list":
		out, err = collect(ctx, c.NewListSecretPropertiesPager(nil), func(p azsecrets.ListSecretPropertiesResponse) []*azsecrets.SecretProperties { return p.Value })
	case "versions":
		if err := need(*name != "", "-name"); err != nil {
			return err
		}
		out, err = collect(ctx, c.NewListSecretPropertiesVersionsPager(*name, nil), func(p azsecrets.ListSecretPropertiesVersionsResponse) []*azsecrets.SecretProperties {
			return p.Value
		})
	case "delete":
		if err := need(*name != "", "-name"); err != nil {
			return err
		}
		var r azsecrets.DeleteSecretResponse
		r, err = c.DeleteSecret(ctx, *name, nil)
		out = r.DeletedSecret
	case "get-deleted":
		if err := need(*name != "", "-name"); err != nil {
			return err
		}
		var r azsecrets.GetDeletedSecretResponse
		r, err = c.GetDeletedSecret(ctx, *name, nil)
		out = r.DeletedSecret
	case "list-deleted":
		out, err = collect(ctx, c.NewListDeletedSecretPropertiesPager(nil), func(p azsecrets.ListDeletedSecretPropertiesResponse) []*azsecrets.DeletedSecretProperties {
			return p.Value
		})
	case "recover":
		if err := need(*name != "", "-name"); err != nil {
			return err
		}
		var r azsecrets.RecoverDeletedSecretResponse
		r, err = c.RecoverDeletedSecret(ctx, *name, nil)
		out = r.Secret
	case "purge":
		if err := need(*name != "", "-name"); err != nil {
			return err
		}
		_, err = c.PurgeDeletedSecret(ctx, *name, nil)
		out = struct{}{}
	case "backup":
		if err := need(*name != "", "-name"); err != nil {
			return err
		}
		var r azsecrets.BackupSecretResponse
		r, err = c.BackupSecret(ctx, *name, nil)
		out = r.BackupSecretResult
	case "restore":
		if err := need(*blob != "", "-blob"); err != nil {
			return err
		}
		b, e := base64.RawURLEncoding.DecodeString(strings.TrimRight(*blob, "="))
		if e != nil {
			return fmt.Errorf("keyvault restore: -blob is not base64url: %w", e)
		}
		var r azsecrets.RestoreSecretResponse
		r, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: b}, nil)
		out = r.Secret
	default:
		return fmt.Errorf("keyvault: unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintf(stderr, "keyvault %s: %v\n", cmd, err)
		printJSON(stdout, errorJSON(err))
		return errReported
	}
	printJSON(stdout, out)
	return nil
}

// page is one list's result: every item over all pages.
type page[T any] struct {
	Value []T `json:"value"`
	Pages int `json:"pages"`
}

func collect[R any, T any](ctx context.Context, p interface {
	More() bool
	NextPage(context.Context) (R, error)
}, items func(R) []T) (page[T], error) {
	out := page[T]{Value: []T{}}
	for p.More() {
		r, err := p.NextPage(ctx)
		if err != nil {
			return out, err
		}
		out.Pages++
		out.Value = append(out.Value, items(r)...)
	}
	return out, nil
}

// parseTags turns "k=v,k2=v2" into tags; "-" means an empty set.
func parseTags(s string, given bool) map[string]*string {
	if !given {
		return nil
	}
	m := map[string]*string{}
	if s == "-" || s == "" {
		return m
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = &v
	}
	return m
}

type callError struct {
	Status  int    `json:"status,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

func errorJSON(err error) map[string]callError {
	e := callError{Message: err.Error()}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		e.Status, e.Code = re.StatusCode, re.ErrorCode
		// The message is the body's error.message, not the whole dump.
		e.Message = ""
		if re.RawResponse != nil && re.RawResponse.Body != nil {
			var body struct {
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if b, rerr := io.ReadAll(re.RawResponse.Body); rerr == nil && json.Unmarshal(b, &body) == nil {
				e.Message = body.Error.Message
			}
		}
	}
	return map[string]callError{"error": e}
}

func printJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"marshalError": err.Error()})
	}
	fmt.Fprintf(w, "%s\n", b)
}
