package server

import "testing"

func TestGCPercent(t *testing.T) {
	for _, tt := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{1 << 20, 400},
		{4 << 20, 400},
		{8 << 20, 400},
		{9 << 20, 350},
		{10 << 20, 300},
		{32 << 20, 100},
		{1 << 30, 100},
	} {
		if got := gcPercent(tt.live, 32<<20); got != tt.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", tt.live>>20, got, tt.want)
		}
	}
}
