package keyvault

import "time"

// SetRestoreBudget replaces h's restore budget, for tests.
func SetRestoreBudget(h *Handler, size int64, wait time.Duration) {
	h.restores = newRestoreBudget(size, wait)
}
