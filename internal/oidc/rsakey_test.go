package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"testing"
)

func TestNewRSAKey(t *testing.T) {
	pub := &rsaKeys()[0].PublicKey
	if _, err := NewRSAKey(pub); err != nil {
		t.Fatalf("NewRSAKey(2048-bit key) = %v", err)
	}
	even := new(big.Int).SetBit(new(big.Int).Set(pub.N), 0, 0)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*rsa.PublicKey{
		"nil":             nil,
		"no modulus":      {E: 65537},
		"1024 bits":       &small.PublicKey,
		"even modulus":    {N: even, E: 65537},
		"exponent 1":      {N: pub.N, E: 1},
		"even exponent":   {N: pub.N, E: 65536},
		"exponent 2^31+1": {N: pub.N, E: 1<<31 + 1},
	} {
		if _, err := NewRSAKey(k); err == nil {
			t.Errorf("NewRSAKey(%s) accepted the key", name)
		}
	}
}

// TestRSAKeyVerifyPKCS1v15 checks the prepared key against crypto/rsa on
// valid signatures of each hash and on every way a signature can be wrong.
func TestRSAKeyVerifyPKCS1v15(t *testing.T) {
	priv := rsaKeys()[1]
	k, err := NewRSAKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		hasher := h.New()
		hasher.Write([]byte("header.payload"))
		digest := hasher.Sum(nil)
		sig, err := rsa.SignPKCS1v15(nil, priv, h, digest)
		if err != nil {
			t.Fatal(err)
		}
		flipped := func(b []byte, i int) []byte {
			c := append([]byte(nil), b...)
			c[i] ^= 0x01
			return c
		}
		otherHash := crypto.SHA256
		if h == crypto.SHA256 {
			otherHash = crypto.SHA384
		}
		cases := []struct {
			name         string
			hash         crypto.Hash
			digest, sig  []byte
			wantVerified bool
		}{
			{"valid", h, digest, sig, true},
			{"digest changed", h, flipped(digest, 0), sig, false},
			{"signature changed", h, digest, flipped(sig, len(sig)-1), false},
			{"other hash", otherHash, digest, sig, false},
			{"unsupported hash", crypto.SHA1, digest[:20], sig, false},
			{"short signature", h, digest, sig[1:], false},
			{"long signature", h, digest, append([]byte{0}, sig...), false},
			{"signature equal to the modulus", h, digest, priv.N.FillBytes(make([]byte, len(sig))), false},
			{"signature above the modulus", h, digest, new(big.Int).Add(priv.N, new(big.Int).SetBytes(sig)).FillBytes(make([]byte, len(sig)+1))[1:], false},
			{"empty", h, digest, nil, false},
		}
		for _, c := range cases {
			got := k.VerifyPKCS1v15(c.hash, c.digest, c.sig)
			if got != c.wantVerified {
				t.Errorf("%v %s: verified = %v, want %v", h, c.name, got, c.wantVerified)
			}
			std := rsa.VerifyPKCS1v15(&priv.PublicKey, c.hash, c.digest, c.sig) == nil
			if got != std {
				t.Errorf("%v %s: verified = %v, crypto/rsa says %v", h, c.name, got, std)
			}
		}
	}
}

// FuzzRSAKeyVerifyPKCS1v15 checks that the prepared key accepts exactly what
// crypto/rsa accepts. The fuzzer changes the digest and the signature of a
// valid pair; raising a fuzzed value to the public exponent also tries
// encodings crypto/rsa must reject (wrong padding, prefix or length).
func FuzzRSAKeyVerifyPKCS1v15(f *testing.F) {
	priv := rsaKeys()[2]
	k, err := NewRSAKey(&priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	digest := make([]byte, 32)
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), digest, sig)
	f.Add(uint8(1), digest, sig)
	f.Add(uint8(2), make([]byte, 64), sig)
	f.Add(uint8(0), digest, sig[:255])
	f.Add(uint8(0), digest, []byte{})
	hashes := []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512, crypto.SHA1}
	f.Fuzz(func(t *testing.T, hi uint8, digest, sig []byte) {
		h := hashes[int(hi)%len(hashes)]
		got := k.VerifyPKCS1v15(h, digest, sig)
		want := rsa.VerifyPKCS1v15(&priv.PublicKey, h, digest, sig) == nil
		if got != want {
			t.Fatalf("hash %v, digest %x, signature %x: verified = %v, crypto/rsa says %v", h, digest, sig, got, want)
		}
	})
}

func BenchmarkVerifyRS256(b *testing.B) {
	priv := rsaKeys()[0]
	k, err := NewRSAKey(&priv.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	digest := make([]byte, 32)
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("crypto/rsa", func(b *testing.B) {
		for b.Loop() {
			if rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, digest, sig) != nil {
				b.Fatal("not verified")
			}
		}
	})
	b.Run("prepared", func(b *testing.B) {
		for b.Loop() {
			if !k.VerifyPKCS1v15(crypto.SHA256, digest, sig) {
				b.Fatal("not verified")
			}
		}
	})
}
