package respond

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"simpleapi/store"
)

// DecodeObject reads the request body as one JSON object and returns its
// members undecoded, so callers can tell a missing key from a null one and
// check each member's type in the order the contract gives. A body that is
// missing, not sent as JSON (see IsJSON), malformed, not an object, or that
// repeats a key or holds text that is not Unicode is EINVALID "Wrong
// format"; a body over the limit is ETOOLARGE.
func DecodeObject(c *gin.Context) (map[string]json.RawMessage, error) {
	// A browser form can post any body as text/plain without a preflight;
	// requiring a JSON type keeps cross-site forms out.
	if c.Request.Body == nil || !IsJSON(c.GetHeader("Content-Type")) {
		return nil, store.Errorf(store.EINVALID, MsgWrongFormat)
	}
	data, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, store.Errorf(store.ETOOLARGE, MsgTooLarge)
		}
		return nil, store.Errorf(store.EINVALID, MsgWrongFormat)
	}
	data = bytes.TrimSpace(data)
	// Text that is not UTF-8 would be stored altered (U+FFFD): refuse it.
	if !utf8.Valid(data) {
		return nil, store.Errorf(store.EINVALID, MsgWrongFormat)
	}
	// Only an object will do: null, arrays, strings and numbers are all
	// "Wrong format", as is trailing garbage after the object.
	if len(data) == 0 || data[0] != '{' {
		return nil, store.Errorf(store.EINVALID, MsgWrongFormat)
	}
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&members); err != nil || dec.More() {
		return nil, store.Errorf(store.EINVALID, MsgWrongFormat)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, store.Errorf(store.EINVALID, MsgWrongFormat)
	}
	// encoding/json keeps the last of repeated keys and turns a lone
	// surrogate escape into U+FFFD; both would change what the client
	// meant without a word.
	if hasDuplicateKey(data) || hasLoneSurrogate(data) {
		return nil, store.Errorf(store.EINVALID, MsgWrongFormat)
	}
	return members, nil
}

// IsJSON reports whether a Content-Type names JSON: application/json or
// any application/*+json type, with any parameters.
func IsJSON(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mediaType == "application/json" ||
		strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json")
}

// hasDuplicateKey reports whether any object in the valid JSON text data
// names a key twice (after unescaping).
func hasDuplicateKey(data []byte) bool {
	type frame struct {
		keys      map[string]bool // nil for an array
		expectKey bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false // io.EOF: data was checked as valid before
		}
		var top *frame
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.keys != nil && top.expectKey {
			if top.keys[s] {
				return true
			}
			top.keys[s] = true
			top.expectKey = false
			continue
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.keys != nil {
			top.expectKey = true // this token starts the member's value
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		}
	}
}

// hasLoneSurrogate reports whether the valid JSON text data holds a \u
// escape of a UTF-16 surrogate that is not half of a pair.
func hasLoneSurrogate(data []byte) bool {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		i++ // the escaped character; \\ must not start another escape
		if data[i] != 'u' {
			continue
		}
		r := hex4(data[i+1:])
		i += 4
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if i+6 < len(data) && data[i+1] == '\\' && data[i+2] == 'u' {
				if low := hex4(data[i+3:]); low >= 0xDC00 && low < 0xE000 {
					i += 6
					continue
				}
			}
			return true
		case r >= 0xDC00 && r < 0xE000:
			return true
		}
	}
	return false
}

// hex4 reads four hex digits (validated by the JSON decoder).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// Member kinds, as found by Kind.
const (
	KindAbsent = iota
	KindNull
	KindString
	KindOther
)

// Kind tells whether an object member is absent, null, a string or
// anything else.
func Kind(members map[string]json.RawMessage, key string) int {
	raw, ok := members[key]
	switch {
	case !ok:
		return KindAbsent
	case string(raw) == "null":
		return KindNull
	case len(raw) > 0 && raw[0] == '"':
		return KindString
	default:
		return KindOther
	}
}

// String returns the member as a string and whether it was one.
func String(members map[string]json.RawMessage, key string) (string, bool) {
	if Kind(members, key) != KindString {
		return "", false
	}
	var s string
	if err := json.Unmarshal(members[key], &s); err != nil {
		return "", false
	}
	return s, true
}
