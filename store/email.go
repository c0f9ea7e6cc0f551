package store

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// EmailKey is the one normal form of an email address: the key under
// which accounts are unique, found at login, throttled, cached and logged.
// Every place that compares or keys an email uses it, and nothing else.
//
// It is NFKC with Unicode case folding, as PRECIS does: "Bob", "BOB" and
// "bob" are one key, so are "ſam" (long s) and "sam", "ß" and "ss", and
// "café" written precomposed (NFC) or as "e" plus a combining accent
// (NFD). Stored emails keep the spelling the user gave; only the key is
// normalised.
//
// An all-ASCII email, by far the most common, takes strings.ToLower,
// which for ASCII is the same mapping and costs one allocation at most.
// A Caser is made per call: the type is documented as not safe to share
// between goroutines, and a Fold Caser costs no allocation to make.
func EmailKey(email string) string {
	for i := 0; i < len(email); i++ {
		if email[i] >= utf8.RuneSelf {
			return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(email)))
		}
	}
	return strings.ToLower(email)
}
