package middleware

import (
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LogHandler is the process's log handler: slog's text or JSON handler
// over w, which also writes the access log's lines itself, byte for byte
// as that handler would write them (see appendAccess), without building
// and walking a slog.Record for every request. Loggers derived with
// WithAttrs or WithGroup are slog's own handlers and take no shortcut.
type LogHandler struct {
	slog.Handler
	w    *lockedWriter
	json bool
}

// NewLogHandler is slog.NewJSONHandler (json) or slog.NewTextHandler over
// w, with level as its only option.
func NewLogHandler(w io.Writer, json bool, level slog.Leveler) *LogHandler {
	lw := &lockedWriter{w: w}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(lw, opts)
	if json {
		h = slog.NewJSONHandler(lw, opts)
	}
	return &LogHandler{Handler: h, w: lw, json: json}
}

// lockedWriter serialises slog's writes and the access log's: each line
// is one Write, and w need not be safe for concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// accessRecord is one access-log line.
type accessRecord struct {
	time                        time.Time
	method, route               string
	status                      int
	durationMS                  float64
	bytes                       int
	clientIP, requestID, userID string // userID "" for an anonymous caller
}

// record is the line as a slog record.
func (a *accessRecord) record() slog.Record {
	var buf [8]slog.Attr
	attrs := append(buf[:0],
		slog.String("method", a.method),
		slog.String("route", a.route),
		slog.Int("status", a.status),
		slog.Float64("duration_ms", a.durationMS),
		slog.Int("bytes", a.bytes),
		slog.String("client_ip", a.clientIP),
		slog.String("request_id", a.requestID),
	)
	if a.userID != "" {
		attrs = append(attrs, slog.String("user_id", a.userID))
	}
	r := slog.NewRecord(a.time, slog.LevelInfo, "request", 0)
	r.AddAttrs(attrs...)
	return r
}

// lineBuffers are reused by writeAccess.
var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeAccess writes a's line, unless one of its values needs slog's
// quoting or escaping (never the case for the values the access log
// carries, but a client controls some of them) or its time or duration
// lies outside what appendAccess formats; then it returns false and the
// caller hands the record to slog.
func (h *LogHandler) writeAccess(a *accessRecord) bool {
	bp := lineBuffers.Get().(*[]byte)
	defer lineBuffers.Put(bp)
	line, ok := h.appendAccess((*bp)[:0], a)
	*bp = line[:0]
	if !ok {
		return false
	}
	_, _ = h.w.Write(line)
	return true
}

// appendAccess appends a's line as slog's text or JSON handler writes it.
func (h *LogHandler) appendAccess(b []byte, a *accessRecord) ([]byte, bool) {
	if !plain(a.method) || !plain(a.route) || !plain(a.clientIP) || !plain(a.requestID) ||
		a.userID != "" && !plain(a.userID) || a.time.IsZero() { // slog leaves out a zero time
		return b, false
	}
	if !h.json {
		b = append(b, "time="...)
		var ok bool
		if b, ok = appendTextTime(b, a.time); !ok {
			return b, false
		}
		b = append(b, " level=INFO msg=request method="...)
		b = append(b, a.method...)
		b = append(b, " route="...)
		b = append(b, a.route...)
		b = append(b, " status="...)
		b = strconv.AppendInt(b, int64(a.status), 10)
		b = append(b, " duration_ms="...)
		b = strconv.AppendFloat(b, a.durationMS, 'g', -1, 64)
		b = append(b, " bytes="...)
		b = strconv.AppendInt(b, int64(a.bytes), 10)
		b = append(b, " client_ip="...)
		b = append(b, a.clientIP...)
		b = append(b, " request_id="...)
		b = append(b, a.requestID...)
		if a.userID != "" {
			b = append(b, " user_id="...)
			b = append(b, a.userID...)
		}
		return append(b, '\n'), true
	}
	// encoding/json, which slog uses for floats, switches to exponents
	// outside [1e-6, 1e21) and refuses NaN and infinities.
	if d := math.Abs(a.durationMS); !(d == 0 || d >= 1e-6 && d < 1e21) {
		return b, false
	}
	b = append(b, `{"time":"`...)
	var ok bool
	if b, ok = appendJSONTime(b, a.time); !ok {
		return b, false
	}
	b = append(b, `","level":"INFO","msg":"request","method":"`...)
	b = append(b, a.method...)
	b = append(b, `","route":"`...)
	b = append(b, a.route...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(a.status), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, a.durationMS, 'f', -1, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(a.bytes), 10)
	b = append(b, `,"client_ip":"`...)
	b = append(b, a.clientIP...)
	b = append(b, `","request_id":"`...)
	b = append(b, a.requestID...)
	if a.userID != "" {
		b = append(b, `","user_id":"`...)
		b = append(b, a.userID...)
	}
	return append(b, "\"}\n"...), true
}

// plain reports whether s is written as it is both by slog's text handler
// (unquoted) and by its JSON handler (unescaped): printable ASCII without
// space, '"', '\\' or '='.
func plain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' || c == '=' {
			return false
		}
	}
	return true
}

// stamp is what a log time stamp shares with every other of the same
// second in the same location: all before the fraction of a second
// ("2006-01-02T15:04:05") and the zone after it ("Z" or "+01:00").
type stamp struct {
	sec       int64
	loc       *time.Location
	head      string
	zone      string
	yearRange bool // the year is within [0, 9999]
}

// lastStamp is the stamp of the last second logged.
var lastStamp atomic.Pointer[stamp]

// stampOf returns the stamp of t's second, made with slog's own
// formatting (time.RFC3339Nano) once a second.
func stampOf(t time.Time) *stamp {
	sec, loc := t.Unix(), t.Location()
	if s := lastStamp.Load(); s != nil && s.sec == sec && s.loc == loc {
		return s
	}
	// Half a second as the fraction, so that it is written and marks
	// where the head ends and the zone begins.
	full := string(t.Truncate(time.Second).Add(time.Second/2).AppendFormat(nil, time.RFC3339Nano))
	head, zone, _ := strings.Cut(full, ".5")
	year := t.Year()
	s := &stamp{sec: sec, loc: loc, head: head, zone: zone, yearRange: year >= 0 && year <= 9999}
	lastStamp.Store(s)
	return s
}

// appendTextTime appends t as slog's text handler does: RFC 3339 with
// milliseconds. ok is false for years outside [0, 9999], whose stamps
// slog cuts elsewhere.
func appendTextTime(b []byte, t time.Time) ([]byte, bool) {
	s := stampOf(t)
	if !s.yearRange {
		return b, false
	}
	b = append(b, s.head...)
	ms := t.Nanosecond() / int(time.Millisecond)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, s.zone...), true
}

// appendJSONTime appends t as slog's JSON handler does: time.RFC3339Nano
// (the fraction without trailing zeros, none for a whole second). ok is
// false for years outside [0, 9999], which slog marks as an error.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	s := stampOf(t)
	if !s.yearRange {
		return b, false
	}
	b = append(b, s.head...)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(frac)
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, s.zone...), true
}
