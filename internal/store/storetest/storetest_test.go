package storetest

import (
	"context"
	"testing"
)

func TestOpen(t *testing.T) {
	a, b := Open(t), Open(t)
	ctx := context.Background()
	if err := a.PutSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := a.GetSetting(ctx, "k"); err != nil || v != "v" {
		t.Fatalf("GetSetting = %q, %v", v, err)
	}
	if _, err := b.GetSetting(ctx, "k"); err == nil {
		t.Fatal("two Open calls share a database")
	}
}
