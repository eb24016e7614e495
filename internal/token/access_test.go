package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"testing"
)

func TestClaimsAppendJSON(t *testing.T) {
	c := claimsAt(tenantA, t0, 0)
	c.UTI = "abc"
	c.ManagedIdentityResourceID = "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"
	for _, c := range []Claims{
		c,
		{Audience: "<&>\u2028\"\\\x01\xff", IssuedAt: -1, Expiry: 1 << 62},
		{},
	} {
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.appendJSON(nil); string(got) != string(want) {
			t.Errorf("appendJSON:\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzClaimsAppendJSON: the hand-written encoder matches encoding/json byte
// for byte.
func FuzzClaimsAppendJSON(f *testing.F) {
	f.Add("api://x", "https://wif/t/v2.0", "2", "", int64(1), "<\u2028>")
	f.Add("\xff", "\"", "\\", "\x00", int64(-5), "")
	f.Fuzz(func(t *testing.T, aud, iss, acr, mirid string, n int64, sub string) {
		c := Claims{Audience: aud, Issuer: iss, IssuedAt: n, NotBefore: n + 1, Expiry: -n,
			AppID: sub, AppIDACR: acr, AZP: aud, AZPACR: acr, IDP: iss, IDType: "app",
			OID: sub, Subject: sub, TenantID: iss, UTI: aud, Version: "2.0", ManagedIdentityResourceID: mirid}
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("appendJSON:\n got %q\nwant %q", got, want)
		}
	})
}

func TestECDSASignRawForm(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		digest := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		sig, err := ecdsaSign(key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 64 {
			t.Fatalf("signature is %d bytes, want 64", len(sig))
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&key.PublicKey, digest[:], r, s) {
			t.Fatalf("signature %d does not verify", i)
		}
	}
}

func TestFillInt(t *testing.T) {
	for _, tc := range []struct {
		v    []byte
		want string
		ok   bool
	}{
		{[]byte{0x01}, "\x00\x00\x01", true},
		{[]byte{0xff, 0x01}, "\x00\xff\x01", true},
		{[]byte{0x80, 0x01, 0x02}, "\x80\x01\x02", true},
		{[]byte{0x01, 0x02, 0x03, 0x04}, "", false},
	} {
		dst := make([]byte, 3)
		ok := fillInt(dst, tc.v)
		if ok != tc.ok || ok && string(dst) != tc.want {
			t.Errorf("fillInt(%x) = %x, %v; want %x, %v", tc.v, dst, ok, tc.want, tc.ok)
		}
	}
}
