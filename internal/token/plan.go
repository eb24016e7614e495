// Package token mints and verifies wif's own access tokens and keeps each
// tenant's signing keys, rotating them on a schedule with overlap.
package token

import (
	"sort"
	"time"

	"github.com/wifproject/wif/internal/store"
)

// Policy says how signing keys are rotated.
type Policy struct {
	// Alg is the signing algorithm of new keys: "RS256" or "ES256".
	Alg string
	// RotationPeriod is how long a key signs before its successor takes over.
	RotationPeriod time.Duration
	// PrePublish is how long before activation a successor is published, so
	// that relying parties have cached it before it signs anything.
	PrePublish time.Duration
	// RetainAfter is how long a key stays published after its successor
	// activated: at least the longest token lifetime plus clock skew.
	RetainAfter time.Duration
}

// DefaultPolicy rotates every 30 days, pre-publishes a day ahead and keeps
// old keys for two hours (1 h tokens plus margin).
func DefaultPolicy() Policy {
	return Policy{Alg: "RS256", RotationPeriod: 30 * 24 * time.Hour, PrePublish: 24 * time.Hour, RetainAfter: 2 * time.Hour}
}

// Plan is what a tenant's key set should look like at a moment.
type Plan struct {
	// Signer indexes the key that signs now, or -1 if a key must be created
	// with ActivateAt = now.
	Signer int
	// Published indexes the keys served in the JWKS (including Signer).
	Published []int
	// CreateAt, when non-zero, asks for a new key activating at that time.
	CreateAt time.Time
	// Delete indexes keys that are no longer needed.
	Delete []int
}

// PlanKeys decides, from the stored keys of one tenant, which key signs,
// which are published, whether a successor must be created and which keys
// can go. It is pure. keys need not be sorted.
func PlanKeys(keys []store.SigningKey, now time.Time, p Policy) Plan {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]].ActivateAt.Before(keys[idx[b]].ActivateAt) })

	plan := Plan{Signer: -1}
	// The signer is the newest key already active with the configured alg.
	for _, i := range idx {
		if !keys[i].ActivateAt.After(now) && keys[i].Alg == p.Alg {
			plan.Signer = i
		}
	}
	if plan.Signer < 0 {
		plan.CreateAt = now
	}

	var signerAt time.Time
	if plan.Signer >= 0 {
		signerAt = keys[plan.Signer].ActivateAt
	} else {
		signerAt = now
	}
	hasSuccessor := false
	for pos, i := range idx {
		k := keys[i]
		switch {
		case k.ActivateAt.After(now):
			// A successor waiting for its turn: published ahead.
			plan.Published = append(plan.Published, i)
			if k.Alg == p.Alg {
				hasSuccessor = true
			}
		case i == plan.Signer:
			plan.Published = append(plan.Published, i)
		default:
			// An older key: kept while tokens it signed may still be alive,
			// i.e. until RetainAfter past the activation of the key after it.
			next := signerAt
			if pos+1 < len(idx) && !keys[idx[pos+1]].ActivateAt.After(now) {
				next = keys[idx[pos+1]].ActivateAt
			}
			if now.Before(next.Add(p.RetainAfter)) {
				plan.Published = append(plan.Published, i)
			} else {
				plan.Delete = append(plan.Delete, i)
			}
		}
	}
	if plan.Signer >= 0 && !hasSuccessor && p.RotationPeriod > 0 {
		due := signerAt.Add(p.RotationPeriod)
		if !now.Before(due.Add(-p.PrePublish)) {
			if due.Before(now) {
				due = now
			}
			plan.CreateAt = due
		}
	}
	return plan
}
