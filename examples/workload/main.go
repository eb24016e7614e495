// Command workload is an unmodified Azure SDK workload: it obtains an
// access token with azidentity, configured only through the environment
// variables that the workload identity webhook injects
// (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE,
// AZURE_AUTHORITY_HOST). Trust in wif's CA comes from SSL_CERT_FILE.
//
// The only non-default option is DisableInstanceDiscovery, which any
// authority other than login.microsoftonline.com needs.
//
//	workload -scope https://vault.localhost:8443/.default
//
// It prints the access token on stdout. With -credential secret it uses
// ClientSecretCredential (AZURE_CLIENT_SECRET), with -credential assertion
// ClientAssertionCredential reading the same token file.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

func main() {
	scope := flag.String("scope", "", "scope to request, e.g. https://management.localhost/.default")
	kind := flag.String("credential", "workload", "workload, secret or assertion")
	flag.Parse()
	if err := run(*kind, *scope); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(kind, scope string) error {
	if scope == "" {
		return fmt.Errorf("-scope is required")
	}
	var cred azcore.TokenCredential
	var err error
	tenant, client := os.Getenv("AZURE_TENANT_ID"), os.Getenv("AZURE_CLIENT_ID")
	switch kind {
	case "workload":
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{DisableInstanceDiscovery: true})
	case "secret":
		cred, err = azidentity.NewClientSecretCredential(tenant, client, os.Getenv("AZURE_CLIENT_SECRET"),
			&azidentity.ClientSecretCredentialOptions{DisableInstanceDiscovery: true})
	case "assertion":
		file := os.Getenv("AZURE_FEDERATED_TOKEN_FILE")
		cred, err = azidentity.NewClientAssertionCredential(tenant, client, func(context.Context) (string, error) {
			b, err := os.ReadFile(file)
			return string(b), err
		}, &azidentity.ClientAssertionCredentialOptions{DisableInstanceDiscovery: true})
	default:
		return fmt.Errorf("unknown -credential %q", kind)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return err
	}
	fmt.Println(tok.Token)
	return nil
}
