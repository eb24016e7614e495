package keyvault_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/keyvault"
)

// TestRestoreBudget: restores in progress hold at most the budget of body
// bytes; one over it is throttled with Key Vault's 429, and runs once the
// others are done.
func TestRestoreBudget(t *testing.T) {
	e := newEnv(t)
	tok := e.officer()
	e.set(tok, "alpha", "v1")
	r := e.do(http.MethodPost, vaultURL+"/secrets/alpha/backup"+apiQuery, tok, nil)
	var blob struct{ Value string }
	if err := json.Unmarshal(r.body, &blob); err != nil || r.status != 200 {
		t.Fatalf("backup: %d %s", r.status, r.body)
	}
	e.do(http.MethodDelete, vaultURL+"/secrets/alpha"+apiQuery, tok, nil)
	if r := e.do(http.MethodDelete, vaultURL+"/deletedsecrets/alpha"+apiQuery, tok, nil); r.status != 204 {
		t.Fatalf("purge: %d %s", r.status, r.body)
	}
	restoreBody := `{"value":"` + blob.Value + `"}`

	const budget = 1 << 20
	keyvault.SetRestoreBudget(e.h, budget, 50*time.Millisecond)

	// A restore whose body takes the whole budget and does not arrive.
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, vaultURL+"/secrets/restore"+apiQuery, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = budget
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	held := make(chan int, 1)
	go func() {
		resp, err := e.client.Do(req)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	pw.Write([]byte(`{"value":"`))

	// Once it holds the budget, another restore is throttled.
	var got response
	for deadline := time.Now().Add(10 * time.Second); ; {
		got = e.do(http.MethodPost, vaultURL+"/secrets/restore"+apiQuery, tok, restoreBody)
		if got.status == http.StatusTooManyRequests || time.Now().After(deadline) {
			break
		}
		if got.status != 200 {
			t.Fatalf("restore before the budget was held: %d %s", got.status, got.body)
		}
		// It ran: put things back as they were.
		e.do(http.MethodDelete, vaultURL+"/secrets/alpha"+apiQuery, tok, nil)
		e.do(http.MethodDelete, vaultURL+"/deletedsecrets/alpha"+apiQuery, tok, nil)
		time.Sleep(10 * time.Millisecond)
	}
	if got.status != http.StatusTooManyRequests || got.code() != keyvault.CodeThrottled || got.header.Get("Retry-After") != "1" ||
		!strings.HasPrefix(got.header.Get("Content-Type"), "application/json") {
		t.Fatalf("restore over the budget: %d %v %s; want 429 Throttled with Retry-After", got.status, got.header, got.body)
	}

	// The held restore fails (its body is cut) and gives its share back.
	pw.CloseWithError(errors.New("client gone"))
	<-held
	if r := e.do(http.MethodPost, vaultURL+"/secrets/restore"+apiQuery, tok, restoreBody); r.status != 200 {
		t.Fatalf("restore after the budget was released: %d %s", r.status, r.body)
	}
	// A declared body over the limit is refused before it is read.
	pr2, pw2 := io.Pipe()
	defer pw2.Close()
	req, _ = http.NewRequest(http.MethodPost, vaultURL+"/secrets/restore"+apiQuery, pr2)
	req.ContentLength = 16<<20 + 1
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("oversized restore: %d", resp.StatusCode)
	}
}
