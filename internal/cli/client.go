package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/atomicfile"
	"github.com/wifproject/wif/internal/pki"
)

// Profile is the CLI's login state, kept in the config directory (0600).
type Profile struct {
	Server         string `json:"server"` // wif's URL: authority and ARM endpoint
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret,omitempty"`
	CAFile         string `json:"caFile,omitempty"`
}

type cachedToken struct {
	AccessToken string    `json:"accessToken"`
	ExpiresOn   time.Time `json:"expiresOn"`
	Audience    string    `json:"audience"`
	ClientID    string    `json:"clientId"`
}

// configDir is $WIF_CONFIG_DIR, else ~/.wif.
func configDir(getenv func(string) string) string {
	if d := getenv("WIF_CONFIG_DIR"); d != "" {
		return d
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".wif")
	}
	return filepath.Join(os.TempDir(), "wif-config")
}

func loadProfile(dir string) (Profile, error) {
	var p Profile
	b, err := os.ReadFile(filepath.Join(dir, "profile.json"))
	if errors.Is(err, os.ErrNotExist) {
		return p, errors.New("Please run 'wif login' to setup account.")
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("profile %s: %w", filepath.Join(dir, "profile.json"), err)
	}
	return p, nil
}

func saveProfile(dir string, p Profile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(p, "", "  ")
	os.Remove(filepath.Join(dir, "token.json"))
	return atomicfile.Write(filepath.Join(dir, "profile.json"), append(b, '\n'), 0o600)
}

// client talks to wif's token service and ARM API as the logged-in
// principal.
type client struct {
	dir     string
	profile Profile
	http    *http.Client
}

func newHTTPClient(caFile string) (*http.Client, error) {
	tr, err := pki.ClientTransport(caFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

func newClient(dir string) (*client, error) {
	p, err := loadProfile(dir)
	if err != nil {
		return nil, err
	}
	hc, err := newHTTPClient(p.CAFile)
	if err != nil {
		return nil, err
	}
	return &client{dir: dir, profile: p, http: hc}, nil
}

// tokenError is an Entra error answer.
type tokenError struct {
	Err  string `json:"error"`
	Desc string `json:"error_description"`
}

func (e *tokenError) Error() string {
	d, _, _ := strings.Cut(e.Desc, "\r\n")
	return d
}

// acquireToken runs the client-credentials grant with a secret.
func acquireToken(ctx context.Context, hc *http.Client, server, tenant, clientID, secret, audience string) (cachedToken, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {secret},
		"scope":         {audience + "/.default"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+"/"+url.PathEscape(tenant)+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return cachedToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return cachedToken{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return cachedToken{}, err
	}
	if resp.StatusCode != http.StatusOK {
		var te tokenError
		if json.Unmarshal(body, &te) == nil && te.Err != "" {
			return cachedToken{}, &te
		}
		return cachedToken{}, fmt.Errorf("token request failed: %s", resp.Status)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return cachedToken{}, fmt.Errorf("token response is invalid")
	}
	return cachedToken{AccessToken: tr.AccessToken, ExpiresOn: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second), Audience: audience, ClientID: clientID}, nil
}

// token returns a cached or fresh ARM token.
func (c *client) token(ctx context.Context) (string, error) {
	path := filepath.Join(c.dir, "token.json")
	audience := c.profile.Server
	var t cachedToken
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &t) == nil &&
		t.Audience == audience && t.ClientID == c.profile.ClientID && time.Until(t.ExpiresOn) > 5*time.Minute {
		return t.AccessToken, nil
	}
	if c.profile.ClientSecret == "" {
		return "", errors.New("the stored login has no secret; run 'wif login' again")
	}
	t, err := acquireToken(ctx, c.http, c.profile.Server, c.profile.TenantID, c.profile.ClientID, c.profile.ClientSecret, audience)
	if err != nil {
		return "", fmt.Errorf("%w\nInteractive authentication is needed. Please run:\nwif login", err)
	}
	b, _ := json.Marshal(t)
	_ = atomicfile.Write(path, b, 0o600)
	return t.AccessToken, nil
}

// armError is ARM's error body, printed the way az prints it.
type armError struct {
	Status  int
	Code    string
	Message string
}

func (e *armError) Error() string {
	return fmt.Sprintf("(%s) %s\nCode: %s\nMessage: %s", e.Code, e.Message, e.Code, e.Message)
}

// call sends an ARM request: path is relative to the server (or an
// absolute nextLink) and gets an api-version; in, when not nil, is the JSON
// body; out, when not nil, receives the JSON answer (left as it is when
// the answer is empty). ARM's errors come back as *armError.
func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	tok, err := c.token(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = c.profile.Server + path
	}
	if !strings.Contains(u, "api-version=") {
		if strings.Contains(u, "?") {
			u += "&api-version=" + apiVersion
		} else {
			u += "?api-version=" + apiVersion
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e armapi.ErrorResponse
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			return &armError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("invalid response: %w", err)
	}
	return nil
}

// apiVersion is the one api-version the CLI sends; wif serves one shape
// per resource type.
const apiVersion = "2024-11-30"

// do sends an ARM request and returns its answer as JSON's map form (nil
// when the answer is empty), the form the az-shaped output is built from.
func (c *client) do(ctx context.Context, method, path string, body any) (map[string]any, error) {
	var out map[string]any
	err := c.call(ctx, method, path, body, &out)
	return out, err
}

// listOf returns every item of a list, following nextLink.
func listOf[T any](ctx context.Context, c *client, path string) ([]T, error) {
	items := []T{}
	for path != "" {
		var page armapi.Page[T]
		if err := c.call(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, err
		}
		items = append(items, page.Value...)
		path = page.NextLink
		// The bearer token goes only to wif.
		if path != "" && !strings.HasPrefix(path, c.profile.Server+"/") {
			return nil, fmt.Errorf("the list's nextLink %q is not on %s", path, c.profile.Server)
		}
	}
	return items, nil
}

// list returns every item of a list in JSON's map form.
func (c *client) list(ctx context.Context, path string) ([]map[string]any, error) {
	return listOf[map[string]any](ctx, c, path)
}

// groupLocation is location, or the resource group's when it is empty: az
// defaults a new resource's location so.
func (c *client) groupLocation(ctx context.Context, sub, rg, location string) (string, error) {
	if location != "" {
		return location, nil
	}
	var g armapi.ResourceGroup
	if err := c.call(ctx, http.MethodGet, groups.itemPath(sub, "", rg), nil, &g); err != nil {
		return "", err
	}
	return g.Location, nil
}
