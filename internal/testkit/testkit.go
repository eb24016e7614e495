// Package testkit holds what the tests of several packages share: a clock
// they set and advance, and keys generated once per test binary (RSA
// generation is slow).
package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"time"
)

// Clock is an injectable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 4)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// RSAKey returns the i-th of four RSA-2048 keys (0 to 3), the same ones
// for the whole test binary.
func RSAKey(i int) *rsa.PrivateKey { return rsaKeys()[i] }

var ecKeys = sync.OnceValue(func() map[string]*ecdsa.PrivateKey {
	keys := map[string]*ecdsa.PrivateKey{}
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		keys[c.Params().Name] = k
	}
	return keys
})

// ECKey returns an ECDSA key on curve (P-256 or P-384), the same one for
// the whole test binary.
func ECKey(curve elliptic.Curve) *ecdsa.PrivateKey { return ecKeys()[curve.Params().Name] }
