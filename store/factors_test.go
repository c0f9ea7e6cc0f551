package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFactorsDocument: factors are kept as their JSON document with times
// in UTC; nothing, or only empty lists, is no document, and reads back as
// none.
func TestFactorsDocument(t *testing.T) {
	for _, none := range []Factors{{}, {RecoveryCodes: []RecoveryCode{}, Passkeys: []Passkey{}}} {
		b, err := none.Document()
		require.NoError(t, err)
		assert.Nil(t, b)
		n, err := none.Normalized()
		require.NoError(t, err)
		assert.Equal(t, Factors{}, n)
	}

	zone := time.FixedZone("X", 3600)
	created := time.Date(2026, 1, 2, 4, 5, 6, 700, zone)
	used := created.Add(time.Hour)
	f := Factors{
		TOTP:          &TOTP{Secret: []byte{1, 2}, Confirmed: true, CreatedAt: created},
		RecoveryCodes: []RecoveryCode{{Hash: "h1", UsedAt: &used}, {Hash: "h2"}},
		Passkeys:      []Passkey{{ID: []byte("k"), Name: "laptop", CreatedAt: created, LastUsedAt: &used, Transports: []string{}}},
	}
	b, err := f.Document()
	require.NoError(t, err)
	assert.Contains(t, string(b), `"created_at":"2026-01-02T03:05:06.0000007Z"`)
	assert.Equal(t, zone, f.TOTP.CreatedAt.Location(), "f itself is left as it was")

	n, err := f.Normalized()
	require.NoError(t, err)
	usedUTC := used.UTC()
	want := Factors{
		TOTP:          &TOTP{Secret: []byte{1, 2}, Confirmed: true, CreatedAt: created.UTC()},
		RecoveryCodes: []RecoveryCode{{Hash: "h1", UsedAt: &usedUTC}, {Hash: "h2"}},
		Passkeys:      []Passkey{{ID: []byte("k"), Name: "laptop", CreatedAt: created.UTC(), LastUsedAt: &usedUTC}},
	}
	assert.Equal(t, want, n)
	assert.Equal(t, zone, f.RecoveryCodes[0].UsedAt.Location())
}
