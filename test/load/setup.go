package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wifproject/wif/test/load/loadkit"
	"golang.org/x/sync/errgroup"
)

// arm drives wif's ARM API as the bootstrap admin.
type arm struct {
	hc    *http.Client
	base  string
	boot  loadkit.Bootstrap
	token string
}

func newARM(ctx context.Context, hc *http.Client, base string, boot loadkit.Bootstrap) (*arm, error) {
	a := &arm{hc: hc, base: base, boot: boot}
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {boot.ClientID}, "client_secret": {boot.ClientSecret},
		"scope": {boot.ARMEndpoint + ".default"},
	}
	if !strings.HasSuffix(boot.ARMEndpoint, "/") {
		form.Set("scope", boot.ARMEndpoint+"/.default")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+boot.TenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ARM token: %w", err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &tr) != nil || tr.AccessToken == "" {
		return nil, fmt.Errorf("ARM token: %d %s", resp.StatusCode, b)
	}
	a.token = tr.AccessToken
	return a, nil
}

func (a *arm) put(ctx context.Context, path string, body any) ([]byte, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, a.base+path+"?api-version=2023-01-31", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("PUT %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		return nil, fmt.Errorf("PUT %s: %d %s", path, resp.StatusCode, out)
	}
	return out, nil
}

// setupSpec is the shape of the store: identities with federated
// credentials, the last one of each identity being the target that the
// assertions of the first clients identities match.
type setupSpec struct {
	Identities  int
	FICs        int // in total, spread evenly; at most 20 per identity
	Clients     int // identities that assertions are spread over
	Concurrency int
	IssuerURL   string
	// Issuers spreads the credentials that are not targets over this many
	// issuer URLs (IssuerURL + "/cluster-NNNN"), as for a fleet of
	// clusters; 1 puts them all on IssuerURL.
	Issuers int
}

// ficIssuer is the issuer of credential j of identity i: the targets (the
// last credential of each identity) always use the real issuer.
func (s setupSpec) ficIssuer(i, j, per int) string {
	if s.Issuers <= 1 || j == per-1 {
		return s.IssuerURL
	}
	return fmt.Sprintf("%s/cluster-%04d", s.IssuerURL, (i*20+j)%(s.Issuers-1))
}

func identityName(i int) string { return fmt.Sprintf("bench-id-%05d", i) }

// setup creates the resource group, identities and credentials and returns
// the targets. Progress goes to progress.
func (a *arm) setup(ctx context.Context, s setupSpec, progress io.Writer) ([]target, error) {
	if s.Identities < 1 || s.FICs < s.Identities || s.FICs > 20*s.Identities || s.Clients < 1 || s.Clients > s.Identities {
		return nil, fmt.Errorf("need 1 <= identities <= fics <= 20*identities and 1 <= clients <= identities (got %d identities, %d fics, %d clients)", s.Identities, s.FICs, s.Clients)
	}
	rg := "/subscriptions/" + a.boot.SubscriptionID + "/resourceGroups/bench"
	if _, err := a.put(ctx, rg, map[string]any{"location": "eastus"}); err != nil {
		return nil, err
	}
	idPath := func(i int) string {
		return rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + identityName(i)
	}
	// FICs per identity: spread evenly, the first identities take the rest.
	per := func(i int) int {
		n := s.FICs / s.Identities
		if i < s.FICs%s.Identities {
			n++
		}
		return n
	}
	targets := make([]target, s.Clients)
	var mu sync.Mutex
	var done atomic.Int64
	total := int64(s.Identities + s.FICs)
	report := func() {
		if n := done.Add(1); n%10000 == 0 {
			fmt.Fprintf(progress, "  setup: %d/%d resources\n", n, total)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.Concurrency)
	// Identities first, each followed by its credentials in the same
	// worker, so that the limit bounds the in-flight requests overall.
	for i := range s.Identities {
		g.Go(func() error {
			out, err := a.put(gctx, idPath(i), map[string]any{"location": "eastus"})
			if err != nil {
				return err
			}
			report()
			if i < s.Clients {
				var id struct {
					Properties struct {
						ClientID string `json:"clientId"`
					} `json:"properties"`
				}
				if err := json.Unmarshal(out, &id); err != nil || id.Properties.ClientID == "" {
					return fmt.Errorf("identity %d: no clientId in %s", i, out)
				}
				mu.Lock()
				targets[i] = target{ClientID: id.Properties.ClientID, Subject: subject(i, per(i)-1), Identity: i}
				mu.Unlock()
			}
			for j := range per(i) {
				if _, err := a.put(gctx, idPath(i)+"/federatedIdentityCredentials/"+fmt.Sprintf("fic-%02d", j), map[string]any{
					"properties": map[string]any{"issuer": s.ficIssuer(i, j, per(i)), "subject": subject(i, j), "audiences": []string{"api://AzureADTokenExchange"}},
				}); err != nil {
					return err
				}
				report()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return targets, nil
}
