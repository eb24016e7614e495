package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/atomicfile"
	"github.com/wifproject/wif/internal/pki"
	"github.com/wifproject/wif/internal/rbac"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/sts"
)

// BootstrapFile is the name of the bootstrap credentials file.
const BootstrapFile = "bootstrap.json"

// Bootstrap is the content of bootstrap.json: exactly these keys.
type Bootstrap struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	AuthorityHost  string `json:"authorityHost"`
	ARMEndpoint    string `json:"armEndpoint"`
	CAFile         string `json:"caFile"`
}

// setupState is what first start records in the store.
type setupState struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	AdminObjectID  string `json:"adminObjectId"`
	AdminClientID  string `json:"adminClientId"`
}

const setupKey = "setup"

// ensureSetup creates the default tenant, subscription and bootstrap admin
// on first start and writes bootstrap.json last. Later starts, and other
// replicas, reuse them; a data directory without bootstrap.json (removed,
// or a replica's own) gets a new admin secret, and the others stay valid.
func ensureSetup(ctx context.Context, db *store.DB, cfg *Config, now time.Time) (setupState, error) {
	var st setupState
	// Replicas starting at once on an empty store: one creates the
	// defaults, the others then read them.
	err := db.Exclusive(ctx, func() error {
		raw, err := db.GetSetting(ctx, setupKey)
		switch {
		case err == nil:
			if err := json.Unmarshal([]byte(raw), &st); err != nil {
				return fmt.Errorf("server: setup state: %w", err)
			}
			return nil
		case errors.Is(err, store.ErrNotFound):
			st = setupState{TenantID: uuid.NewString(), SubscriptionID: uuid.NewString(), AdminObjectID: uuid.NewString(), AdminClientID: uuid.NewString()}
			if err := createDefaults(ctx, db, st, now); err != nil {
				return err
			}
			b, _ := json.Marshal(st)
			if err := db.PutSetting(ctx, setupKey, string(b)); err != nil {
				return fmt.Errorf("server: record setup: %w", err)
			}
			return nil
		default:
			return fmt.Errorf("server: read setup state: %w", err)
		}
	})
	if err != nil {
		return st, err
	}

	path := filepath.Join(cfg.DataDir, BootstrapFile)
	if b, err := os.ReadFile(path); err == nil {
		var cur Bootstrap
		if json.Unmarshal(b, &cur) == nil && cur.ClientID == st.AdminClientID && cur.ClientSecret != "" {
			// Keep the secret; refresh endpoints in case --public-url changed.
			return st, writeBootstrap(path, cfg, st, cur.ClientSecret)
		}
	}
	secret := newSecret()
	if err := db.AddClientSecret(ctx, store.ClientSecret{
		PrincipalID: st.AdminObjectID, KeyID: uuid.NewString(), Hash: sts.HashSecret(secret),
		Hint: secret[:3], CreatedAt: now, ExpiresAt: now.AddDate(2, 0, 0),
	}); err != nil {
		return st, fmt.Errorf("server: admin secret: %w", err)
	}
	return st, writeBootstrap(path, cfg, st, secret)
}

func createDefaults(ctx context.Context, db *store.DB, st setupState, now time.Time) error {
	if err := db.CreateTenant(ctx, store.Tenant{ID: st.TenantID, CreatedAt: now}); err != nil {
		return fmt.Errorf("server: create tenant: %w", err)
	}
	if err := db.CreateSubscription(ctx, store.Subscription{ID: st.SubscriptionID, TenantID: st.TenantID, DisplayName: "wif default subscription", State: "Enabled", CreatedAt: now}); err != nil {
		return fmt.Errorf("server: create subscription: %w", err)
	}
	if err := db.CreatePrincipal(ctx, store.Principal{
		ObjectID: st.AdminObjectID, ClientID: st.AdminClientID, TenantID: st.TenantID,
		Kind: store.KindServicePrincipal, DisplayName: "wif bootstrap admin", CreatedAt: now,
	}); err != nil {
		return fmt.Errorf("server: create admin: %w", err)
	}
	owner, ok := rbac.BuiltIn(rbac.OwnerID)
	if !ok {
		return errors.New("server: built-in Owner role missing")
	}
	scope := "/subscriptions/" + st.SubscriptionID
	if _, _, err := db.PutRoleAssignment(ctx, store.RoleAssignment{
		ID: uuid.NewString(), Scope: scope,
		RoleDefinitionID: scope + "/providers/Microsoft.Authorization/roleDefinitions/" + owner.Name,
		PrincipalID:      st.AdminObjectID, PrincipalType: "ServicePrincipal", CreatedAt: now,
	}); err != nil {
		return fmt.Errorf("server: assign Owner: %w", err)
	}
	return nil
}

func writeBootstrap(path string, cfg *Config, st setupState, secret string) error {
	caFile, err := filepath.Abs(filepath.Join(cfg.DataDir, pki.CAFile))
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(Bootstrap{
		TenantID: st.TenantID, SubscriptionID: st.SubscriptionID, ClientID: st.AdminClientID, ClientSecret: secret,
		AuthorityHost: cfg.PublicURL + "/", ARMEndpoint: cfg.PublicURL + "/", CAFile: caFile,
	}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// newSecret returns a client secret in Entra's style: 40 characters with
// a "~" marker.
func newSecret() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	b := make([]byte, 40)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	b[3] = '8'
	b[4] = 'Q'
	b[5] = '~'
	return string(b)
}
