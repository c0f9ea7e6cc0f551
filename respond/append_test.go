package respond

import (
	"encoding/json"
	"testing"
)

// FuzzAppendJSONString checks the hand encoder against encoding/json on
// every input; the seeds run in every test run.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"héllo wörld ✓ 😀", "\u2028\u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate", "a\u00e9\u2027\u202a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendJSONString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}

func TestAppendJSONStringEveryByte(t *testing.T) {
	for b := 0; b < 256; b++ {
		s := "a" + string([]byte{byte(b)}) + "z"
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("byte %#x: got %s, encoding/json writes %s", b, got, want)
		}
	}
}
