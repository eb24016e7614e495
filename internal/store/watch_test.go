package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/store/pgtest"
)

// watchPair opens two stores on the same database, as two replicas would,
// and starts Watch on the second; changes reports each of its OnChange
// calls.
func watchPair(t *testing.T, dsn string) (a, b *DB, changes <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var err error
	if a, err = Open(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = Open(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ch := make(chan struct{}, 64)
	b.OnChange(func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	go b.Watch(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return a, b, ch
}

// waitChange waits up to within for a change and returns how long it took.
func waitChange(t *testing.T, ch <-chan struct{}, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(within):
		t.Fatalf("no change seen within %v", within)
		return 0
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func assign(t *testing.T, db *DB, id string) {
	t.Helper()
	if _, _, err := db.PutRoleAssignment(context.Background(), RoleAssignment{ID: id, Scope: "/subscriptions/" + subA,
		RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/r", PrincipalID: "p" + id, PrincipalType: "ServicePrincipal", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
}

// TestWatchPostgresAnnouncesAtOnce: a write through one replica reaches
// the other's listeners through LISTEN/NOTIFY well before the poll would.
func TestWatchPostgresAnnouncesAtOnce(t *testing.T) {
	a, _, changes := watchPair(t, pgtest.Schema(t))
	waitChange(t, changes, 5*time.Second) // the listener's catch-up on connecting
	time.Sleep(50 * time.Millisecond)
	drain(changes)
	var worst time.Duration
	for i := range 20 {
		assign(t, a, assignmentID(i))
		worst = max(worst, waitChange(t, changes, 2*time.Second))
		drain(changes)
	}
	t.Logf("20 writes on A seen by B's listeners, the slowest after %v", worst)
	if worst > 250*time.Millisecond {
		t.Errorf("slowest announcement took %v, want well under the 1 s poll", worst)
	}
}

// TestWatchPollsSQLite: two processes on one SQLite file have no
// announcements; the generation poll still brings the change within about
// a second.
func TestWatchPollsSQLite(t *testing.T) {
	a, _, changes := watchPair(t, filepath.Join(t.TempDir(), "wif.db"))
	time.Sleep(1200 * time.Millisecond) // the first poll records the generation
	drain(changes)
	assign(t, a, assignmentID(1))
	if d := waitChange(t, changes, 3*time.Second); d > 2*pollInterval {
		t.Errorf("change seen after %v, want within two polls", d)
	}
}

func assignmentID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
