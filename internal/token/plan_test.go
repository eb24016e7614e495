package token

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/store"
)

func TestPlanKeys(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Policy{Alg: "RS256", RotationPeriod: 30 * 24 * time.Hour, PrePublish: 24 * time.Hour, RetainAfter: 2 * time.Hour}
	key := func(kid string, at time.Time, alg string) store.SigningKey {
		return store.SigningKey{KID: kid, Alg: alg, ActivateAt: at}
	}
	tests := []struct {
		name string
		keys []store.SigningKey
		now  time.Time
		want Plan
	}{
		{"empty creates now", nil, t0, Plan{Signer: -1, CreateAt: t0}},
		{"fresh key, nothing to do", []store.SigningKey{key("a", t0, "RS256")}, t0.Add(time.Hour),
			Plan{Signer: 0, Published: []int{0}}},
		{"successor pre-published a day early", []store.SigningKey{key("a", t0, "RS256")}, t0.Add(29*24*time.Hour + time.Minute),
			Plan{Signer: 0, Published: []int{0}, CreateAt: t0.Add(30 * 24 * time.Hour)}},
		{"successor waits, both published", []store.SigningKey{key("b", t0.Add(30*24*time.Hour), "RS256"), key("a", t0, "RS256")}, t0.Add(29*24*time.Hour + time.Hour),
			Plan{Signer: 1, Published: []int{1, 0}}},
		{"successor active, old kept for overlap", []store.SigningKey{key("a", t0, "RS256"), key("b", t0.Add(30*24*time.Hour), "RS256")}, t0.Add(30*24*time.Hour + time.Hour),
			Plan{Signer: 1, Published: []int{0, 1}}},
		{"old key dropped after overlap", []store.SigningKey{key("a", t0, "RS256"), key("b", t0.Add(30*24*time.Hour), "RS256")}, t0.Add(30*24*time.Hour + 3*time.Hour),
			Plan{Signer: 1, Published: []int{1}, Delete: []int{0}}},
		{"alg switch creates a key now, keeps old published", []store.SigningKey{key("a", t0, "ES256")}, t0.Add(time.Hour),
			Plan{Signer: -1, Published: []int{0}, CreateAt: t0.Add(time.Hour)}},
		{"overdue rotation activates now", []store.SigningKey{key("a", t0, "RS256")}, t0.Add(40 * 24 * time.Hour),
			Plan{Signer: 0, Published: []int{0}, CreateAt: t0.Add(40 * 24 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlanKeys(tt.keys, tt.now, p)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PlanKeys (-want +got):\n%s", diff)
			}
		})
	}
}
