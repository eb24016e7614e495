package oidc

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"errors"

	"filippo.io/bigmod"
)

// maxRSABits is the largest RSA modulus accepted, as in crypto/rsa.
const maxRSABits = 16384

// RSAKey is an RSA public key prepared for verification. crypto/rsa builds
// the modulus' Montgomery parameters again on every verification, about a
// third of the cost of verifying an RS256 signature with a 2048-bit key
// (BenchmarkVerifyRS256); an RSAKey builds them once. Key sets hold their RSA keys as *RSAKey.
type RSAKey struct {
	*rsa.PublicKey
	n *bigmod.Modulus
}

// NewRSAKey prepares pub. The modulus must be odd and 2048 to 16384 bits long,
// the public exponent odd and between 3 and 2^31-1.
func NewRSAKey(pub *rsa.PublicKey) (*RSAKey, error) {
	switch {
	case pub == nil || pub.N == nil:
		return nil, errors.New("no RSA key")
	case pub.N.BitLen() < minRSABits || pub.N.BitLen() > maxRSABits:
		return nil, errors.New("RSA modulus size out of range")
	case pub.N.Bit(0) == 0:
		return nil, errors.New("RSA modulus is even")
	case pub.E < 3 || pub.E&1 == 0 || pub.E > 1<<31-1:
		return nil, errors.New("RSA public exponent out of range")
	}
	n, err := bigmod.NewModulus(pub.N.Bytes())
	if err != nil {
		return nil, err
	}
	return &RSAKey{PublicKey: pub, n: n}, nil
}

// digestInfoPrefix is the DER encoding of DigestInfo up to the digest itself
// (RFC 8017, section 9.2, note 1).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// VerifyPKCS1v15 reports whether sig is a valid RSASSA-PKCS1-v1_5 signature
// of digest (RFC 8017, section 8.2.2), as crypto/rsa.VerifyPKCS1v15 does: the
// signature is exactly as long as the modulus and less than it, and the
// recovered encoding equals 0x00 0x01 0xff… 0x00 DigestInfo byte for byte.
func (k *RSAKey) VerifyPKCS1v15(h crypto.Hash, digest, sig []byte) bool {
	prefix, ok := digestInfoPrefix[h]
	size := k.n.Size()
	tLen := len(prefix) + len(digest)
	if !ok || len(digest) != h.Size() || len(sig) != size || size < tLen+11 {
		return false
	}
	s, err := bigmod.NewNat().SetBytes(sig, k.n)
	if err != nil {
		return false
	}
	em := bigmod.NewNat().ExpShortVarTime(s, uint(k.E), k.n).Bytes(k.n)
	want := make([]byte, size)
	want[1] = 0x01
	for i := 2; i < size-tLen-1; i++ {
		want[i] = 0xff
	}
	copy(want[size-tLen:], prefix)
	copy(want[size-len(digest):], digest)
	return bytes.Equal(em, want)
}
