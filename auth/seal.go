package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// sealInfo names what sealing keys are for, so that a key derived from the
// session secret for this purpose is never the key of anything else.
const sealInfo = "simpleapi second-factor secret sealing v1"

// sealVersion is the first byte of every sealed value: the format below.
const sealVersion = 1

// Sealer encrypts the secrets of second factors at rest: AES-256-GCM, with
// keys derived by HKDF-SHA256 from the service's secrets, and the user's
// id as additional data so that a sealed secret copied to another account
// does not open there. A store (or a dump of it) holds nothing usable.
type Sealer struct {
	aeads []cipher.AEAD // the first seals; every one opens
}

// NewSealer derives a key from each of secrets (SESSION_SECRET, the first
// of them the current one): values sealed under an older secret still open
// while it is listed, so rotating the secret does not lose enrolments.
func NewSealer(secrets [][]byte) (*Sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("sealer: no secret")
	}
	s := &Sealer{}
	for _, secret := range secrets {
		key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// Seal encrypts plain for the user userID: version, random nonce,
// ciphertext and tag.
func (s *Sealer) Seal(plain []byte, userID string) []byte {
	aead := s.aeads[0]
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:]) // crypto/rand.Read never fails (Go 1.24+)
	return aead.Seal(out, out[1:], plain, []byte(userID))
}

// errUnsealable is the error for a sealed value that no key opens: damaged,
// another user's, or sealed under a secret no longer listed.
var errUnsealable = errors.New("sealed secret cannot be opened (damaged, or sealed under a SESSION_SECRET no longer listed)")

// Open decrypts a value Seal made for userID.
func (s *Sealer) Open(sealed []byte, userID string) ([]byte, error) {
	for _, aead := range s.aeads {
		n := aead.NonceSize()
		if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealVersion {
			return nil, errUnsealable
		}
		if plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(userID)); err == nil {
			return plain, nil
		}
	}
	return nil, errUnsealable
}
