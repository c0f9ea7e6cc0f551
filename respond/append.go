package respond

import (
	"sync"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// AppendJSONString appends s as a JSON string exactly as encoding/json
// writes it (which c.JSON uses): <, > and & escaped as \u003c etc., control
// characters escaped, invalid UTF-8 replaced by \ufffd, U+2028 and U+2029
// escaped. Hot answers encode by hand with it and stay byte-for-byte the
// same as the encoding/json answers elsewhere.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && jsonSafe[s[i]] { // most strings are all safe bytes
			i++
		}
		if i == len(s) {
			break
		}
		if b := s[i]; b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonSafe marks the bytes that go into a JSON string as they are: ASCII
// but control characters, quotes, backslashes and <, >, &. Bytes of
// multi-byte UTF-8 are not marked: they are decoded and checked.
var jsonSafe = func() (safe [256]bool) {
	for b := byte(0x20); b < utf8.RuneSelf; b++ {
		safe[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return safe
}()

// buffers are reused by JSONAppended, so hand-encoded answers allocate
// nothing for their bodies.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// JSONAppended writes the JSON that encode appends to its argument, with
// the given status.
func JSONAppended(c *gin.Context, status int, encode func([]byte) []byte) {
	bp := buffers.Get().(*[]byte)
	body := encode((*bp)[:0])
	JSONBytes(c, status, body)
	if cap(body) <= 64<<10 { // an odd huge answer is not kept
		*bp = body[:0]
		buffers.Put(bp)
	}
}
