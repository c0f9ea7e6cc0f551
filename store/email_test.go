package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEmailKey(t *testing.T) {
	same := [][]string{
		{"bob.smith@example.com", "Bob.Smith@EXAMPLE.com", "bob.\u017fmith@example.com"}, // long s
		{"caf\u00e9@x.test", "cafe\u0301@x.test", "CAF\u00c9@x.test"},                    // NFC, NFD, upper
		{"strasse@x.test", "stra\u00dfe@x.test"},                                         // sharp s
		{"\u03bc@x.test", "\u00b5@x.test"},                                               // mu, micro sign
		{"ab@x.test", "\uff41\uff42@x.test"},                                             // fullwidth (NFKC)
	}
	for _, group := range same {
		for _, e := range group[1:] {
			assert.Equal(t, EmailKey(group[0]), EmailKey(e), "%q and %q", group[0], e)
		}
	}
	assert.NotEqual(t, EmailKey("bob@x.test"), EmailKey("rob@x.test"))
	// The ASCII fast path is the same mapping as the general one.
	for c := 0; c < 128; c++ {
		s := string(rune(c)) + "\u00e9"
		assert.Equal(t, EmailKey(s)[:1], EmailKey(string(rune(c))), "byte %d", c)
	}
}
