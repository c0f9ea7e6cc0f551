package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator is a software WebAuthn authenticator: it answers the
// options the service gives a browser (the JSON of
// navigator.credentials.create() and .get()) as a platform authenticator
// and the browser together would, with the JSON a page sends back. Its
// passkeys are discoverable P-256 keys with "none" attestation; it
// verifies its user and counts signatures. Browser tests use Chromium's
// own virtual authenticator; this one lets Go tests run ceremonies
// without a browser, with real keys and signatures.
type Authenticator struct {
	// Origin is the page's origin the answers claim (clientDataJSON).
	Origin string
	// SkipUserVerification answers without the UV flag, as an
	// authenticator that could not verify its user.
	SkipUserVerification bool
	// BackupEligible marks new passkeys as synced ones (BE and BS).
	BackupEligible bool

	mu    sync.Mutex
	creds []*SoftCredential
}

// SoftCredential is one passkey of an Authenticator.
type SoftCredential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	// SignCount is the signature counter, increased by each assertion;
	// Counterless keeps it at 0, as authenticators without one do.
	SignCount   uint32
	Counterless bool
	key         *ecdsa.PrivateKey
}

var b64 = base64.RawURLEncoding

// creationOptions is what Create reads of the options.
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

// requestOptions is what Get reads of the options.
type requestOptions struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// ErrExcluded is Create's answer when it holds a credential the options
// exclude (a browser's InvalidStateError).
var ErrExcluded = errors.New("a credential of this authenticator is excluded")

// Create makes a passkey for the options of a registration and returns
// the PublicKeyCredential JSON a page would send to the server.
func (a *Authenticator) Create(options []byte) (json.RawMessage, *SoftCredential, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, nil, err
	}
	pk := o.PublicKey
	userHandle, err := b64.DecodeString(pk.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("user.id: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range pk.ExcludeCredentials {
		for _, c := range a.creds {
			if b64.EncodeToString(c.ID) == ex.ID {
				return nil, nil, ErrExcluded
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cred := &SoftCredential{ID: make([]byte, 16), RPID: pk.RP.ID, UserHandle: userHandle, key: key}
	_, _ = rand.Read(cred.ID)

	ecdh, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, nil, err
	}
	point := ecdh.Bytes() // 0x04 || x || y
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:65]})
	if err != nil {
		return nil, nil, err
	}
	attested := make([]byte, 16, 16+2+len(cred.ID)+len(cose)) // AAGUID: zero
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(cred.ID)))
	attested = append(append(attested, cred.ID...), cose...)
	authData := a.authData(cred, 0x40) // AT: attested credential data follows
	authData = append(authData, attested...)
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(cred.ID),
		"rawId":                   b64.EncodeToString(cred.ID),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", pk.Challenge)),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal"},
		},
	})
	if err != nil {
		return nil, nil, err
	}
	a.creds = append(a.creds, cred)
	return out, cred, nil
}

// Get signs the challenge of a check with a passkey the options allow
// (any of the RP id's, the latest first, when they name none) and returns
// the PublicKeyCredential JSON a page would send.
func (a *Authenticator) Get(options []byte) (json.RawMessage, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	pk := o.PublicKey
	a.mu.Lock()
	defer a.mu.Unlock()
	var cred *SoftCredential
	for _, c := range slices.Backward(a.creds) {
		if c.RPID != pk.RPID {
			continue
		}
		allowed := len(pk.AllowCredentials) == 0
		for _, al := range pk.AllowCredentials {
			allowed = allowed || al.ID == b64.EncodeToString(c.ID)
		}
		if allowed {
			cred = c
			break
		}
	}
	if cred == nil {
		return nil, errors.New("no credential for these options")
	}
	if !cred.Counterless {
		cred.SignCount++
	}
	clientData := a.clientData("webauthn.get", pk.Challenge)
	authData := a.authData(cred, 0)
	sum := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(slices.Clone(authData), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(cred.ID),
		"rawId":                   b64.EncodeToString(cred.ID),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(cred.UserHandle),
		},
	})
}

// authData is the authenticator data of cred: RP id hash, flags (UP, UV
// unless skipped, BE and BS when backup eligible, and extra), counter.
func (a *Authenticator) authData(cred *SoftCredential, extra byte) []byte {
	rpHash := sha256.Sum256([]byte(cred.RPID))
	flags := byte(0x01) | extra // UP
	if !a.SkipUserVerification {
		flags |= 0x04
	}
	if a.BackupEligible {
		flags |= 0x08 | 0x10
	}
	out := append(rpHash[:], flags)
	return binary.BigEndian.AppendUint32(out, cred.SignCount)
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}
