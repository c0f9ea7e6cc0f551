package store

import (
	"encoding/json"
	"slices"
	"time"
)

// Factors are a user's second factors; the zero value is none. Stores keep
// them with the user, as one JSON document (the tags below are that
// document's format), so that an account without a factor keeps the shape
// it always had.
type Factors struct {
	TOTP          *TOTP          `json:"totp,omitempty"`
	RecoveryCodes []RecoveryCode `json:"recovery_codes,omitempty"`
	Passkeys      []Passkey      `json:"passkeys,omitempty"`
}

// TOTP is an authenticator app's shared secret (RFC 6238).
type TOTP struct {
	// Secret is the secret sealed by the service (encrypted and
	// authenticated); a store never sees it in the clear.
	Secret    []byte    `json:"secret"`
	Confirmed bool      `json:"confirmed"` // false while enrolment awaits its first code
	CreatedAt time.Time `json:"created_at"`
	// LastStep is the latest time step whose code was accepted: a code is
	// good once, so only later steps are.
	LastStep int64 `json:"last_step"`
}

// RecoveryCode is one single-use code, kept as a hash.
type RecoveryCode struct {
	Hash   string     `json:"hash"` // hex SHA-256 of the code
	UsedAt *time.Time `json:"used_at,omitempty"`
}

// Passkey is one WebAuthn credential.
type Passkey struct {
	ID              []byte     `json:"id"`
	Name            string     `json:"name"`
	PublicKey       []byte     `json:"public_key"`
	AttestationType string     `json:"attestation_type,omitempty"`
	AAGUID          []byte     `json:"aaguid,omitempty"`
	Transports      []string   `json:"transports,omitempty"`
	SignCount       uint32     `json:"sign_count"`
	BackupEligible  bool       `json:"backup_eligible,omitempty"`
	BackupState     bool       `json:"backup_state,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	LastUsedAt      *time.Time `json:"last_used_at,omitempty"`
}

// Enrolled reports whether f holds a factor that can be used: a confirmed
// TOTP secret or a passkey. Recovery codes alone are not one.
func (f Factors) Enrolled() bool {
	return f.TOTP != nil && f.TOTP.Confirmed || len(f.Passkeys) > 0
}

// IsZero reports whether f holds nothing at all.
func (f Factors) IsZero() bool {
	return f.TOTP == nil && len(f.RecoveryCodes) == 0 && len(f.Passkeys) == 0
}

// Clone returns a copy of f that shares nothing mutable with it.
func (f Factors) Clone() Factors {
	if f.TOTP != nil {
		t := *f.TOTP
		t.Secret = slices.Clone(t.Secret)
		f.TOTP = &t
	}
	if f.RecoveryCodes != nil {
		codes := make([]RecoveryCode, len(f.RecoveryCodes))
		for i, c := range f.RecoveryCodes {
			c.UsedAt = cloneTime(c.UsedAt)
			codes[i] = c
		}
		f.RecoveryCodes = codes
	}
	if f.Passkeys != nil {
		keys := make([]Passkey, len(f.Passkeys))
		for i, k := range f.Passkeys {
			k.ID, k.PublicKey, k.AAGUID = slices.Clone(k.ID), slices.Clone(k.PublicKey), slices.Clone(k.AAGUID)
			k.Transports = slices.Clone(k.Transports)
			k.LastUsedAt = cloneTime(k.LastUsedAt)
			keys[i] = k
		}
		f.Passkeys = keys
	}
	return f
}

// Document returns f as stores keep it: its JSON document (the tags
// above) with its times in UTC, or nil when f holds nothing. EINVALID
// when f cannot be written.
func (f Factors) Document() ([]byte, error) {
	if f.IsZero() {
		return nil, nil
	}
	f = f.Clone()
	if f.TOTP != nil {
		f.TOTP.CreatedAt = f.TOTP.CreatedAt.UTC()
	}
	for i := range f.RecoveryCodes {
		f.RecoveryCodes[i].UsedAt = utcPtr(f.RecoveryCodes[i].UsedAt)
	}
	for i := range f.Passkeys {
		f.Passkeys[i].CreatedAt = f.Passkeys[i].CreatedAt.UTC()
		f.Passkeys[i].LastUsedAt = utcPtr(f.Passkeys[i].LastUsedAt)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, Errorf(EINVALID, "second factors: %v", err)
	}
	return b, nil
}

// Normalized returns a copy of f as it reads back from its Document:
// times in UTC (their fraction kept), empty lists as none, and the zero
// value when f holds nothing. EINVALID when f cannot be written.
func (f Factors) Normalized() (Factors, error) {
	b, err := f.Document()
	if err != nil || b == nil {
		return Factors{}, err
	}
	var out Factors
	if err := json.Unmarshal(b, &out); err != nil {
		return Factors{}, Errorf(EINVALID, "second factors: %v", err)
	}
	return out, nil
}

// utcPtr converts *p to UTC in place (p is a private copy) and returns p.
func utcPtr(p *time.Time) *time.Time {
	if p != nil {
		*p = p.UTC()
	}
	return p
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}
