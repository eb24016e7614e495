package keyvault

// Sealer encrypts secret values at rest (seal.FileKEK in the server). aad
// binds a ciphertext to its context (vault, secret name and version), so a
// sealed value copied to another row does not open.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
}

// valueAAD is the additional data that binds a sealed secret value to its
// vault, secret name and version (all lower case).
func valueAAD(vault, name, version string) []byte {
	b := make([]byte, 0, len("wif-kv-secret/1")+3+len(vault)+len(name)+len(version))
	b = append(b, "wif-kv-secret/1"...)
	for _, s := range []string{vault, name, version} {
		b = append(b, 0)
		b = appendLower(b, s)
	}
	return b
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// backupAAD binds a sealed backup blob to its purpose.
var backupAAD = []byte("wif-kv-secret-backup/1")
