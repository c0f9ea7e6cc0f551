package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"simpleapi/store"
)

const (
	argonSaltLen = 16 // bytes of random salt per hash
	argonKeyLen  = 32 // bytes of derived key

	// Bounds on parameters read from a stored hash, so a corrupt or hostile
	// record cannot demand absurd work. They match the ranges the settings
	// accept (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS).
	phcMaxMemoryKiB  = 4 << 20
	phcMaxIterations = 100
	phcMinSaltLen    = 8 // RFC 9106 minimum
	phcMaxSaltLen    = 1024
	phcMinKeyLen     = 4 // RFC 9106 minimum tag length
	phcMaxKeyLen     = 1024
)

// ErrMalformedHash is returned (wrapped) by Verify for a stored hash that
// looks like a PHC string but cannot be used. Messages never contain the
// hash itself.
var ErrMalformedHash = errors.New("auth: malformed password hash")

var phcBase64 = base64.RawStdEncoding.Strict()

// ErrBusy is returned (wrapped) by Hash, Verify and VerifyDummy when a
// computation would wait longer than HasherOptions.MaxWait for a free slot: the request
// is refused at once, costs no hash, and answers 503 like any other
// unavailable dependency.
var ErrBusy = store.Errorf(store.EUNAVAILABLE, "password hashing is saturated")

// Argon2Params are the argon2id cost parameters of new hashes. OWASP's
// are m=19456 KiB, t=2, p=1; tests lower them.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// Hasher hashes and verifies passwords with argon2id. It is safe for
// concurrent use; at most maxConcurrent argon2 computations run at once so
// that a burst of logins cannot exhaust memory (each takes MemoryKiB).
type Hasher struct {
	params Argon2Params
	sem    chan struct{}

	// Target of VerifyDummy: a random salt and key, so the comparison fails.
	dummySalt []byte
	dummyKey  []byte

	verifications atomic.Uint64

	// Admission: how many computations wait for a slot, an average of
	// recent computation times (nanoseconds), and how many were refused.
	waiting  atomic.Int64
	avgNanos atomic.Int64
	refused  atomic.Uint64

	// onCompute, when set (by tests), runs inside the semaphore just before
	// each argon2 computation.
	onCompute func()

	observe func(time.Duration)
	maxWait time.Duration
}

// HasherOptions are a Hasher's limits and observer.
type HasherOptions struct {
	// Slots bounds simultaneous argon2 computations; <= 0 means
	// runtime.NumCPU().
	Slots int
	// MaxWait bounds the wait for a free slot (0: unbounded). A
	// computation whose expected wait (the queue ahead of it times the
	// recent average computation time, over the number of slots) is
	// longer is refused at once with ErrBusy; one let into the queue is
	// refused only if its wait really reaches MaxWait, and one that got a
	// slot always completes.
	MaxWait time.Duration
	// Observe, when set, receives the duration of each argon2 computation
	// (Hash, Verify and VerifyDummy each run one), not counting the wait
	// for a free slot. It may be called concurrently.
	Observe func(time.Duration)
}

// NewHasher returns a Hasher using params for new hashes. It panics on
// params the settings would have refused.
func NewHasher(p Argon2Params, opts HasherOptions) *Hasher {
	if p.Iterations < 1 || p.Parallelism < 1 || p.MemoryKiB < 8*uint32(p.Parallelism) {
		panic(fmt.Sprintf("auth: invalid argon2 parameters m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism))
	}
	slots := opts.Slots
	if slots <= 0 {
		slots = runtime.NumCPU()
	}
	return &Hasher{
		params:    p,
		sem:       make(chan struct{}, slots),
		dummySalt: hasherRandom(argonSaltLen),
		dummyKey:  hasherRandom(argonKeyLen),
		observe:   opts.Observe,
		maxWait:   opts.MaxWait,
	}
}

// Verifications reports how many Verify and VerifyDummy calls have run.
// Each of them computes exactly one password hash.
func (h *Hasher) Verifications() uint64 { return h.verifications.Load() }

// Hash returns the argon2id PHC string of password with a fresh salt:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded standard base64).
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	_, err := rand.Read(salt)
	if err != nil {
		return "", fmt.Errorf("auth: reading salt: %w", err)
	}
	p := phc{params: h.params, salt: salt}
	if p.key, err = h.compute(password, p.salt, p.params, argonKeyLen); err != nil {
		return "", err
	}
	return p.String(), nil
}

// Verify reports whether password matches encoded, a stored hash: an
// argon2id PHC string with any parameters, or a legacy unsalted lowercase
// hex SHA-256 from the old service. needsRehash is true when the password
// matched but the hash should be replaced by Hash(password): legacy SHA-256
// or argon2id weaker than the current parameters.
//
// An empty or unrecognised encoded gives ok=false; a malformed PHC string
// also returns an error wrapping ErrMalformedHash, for logging. Whatever
// encoded is, one argon2 computation runs, so answers take similar time.
func (h *Hasher) Verify(password, encoded string) (ok, needsRehash bool, err error) {
	h.verifications.Add(1)

	if strings.HasPrefix(encoded, "$") {
		p, err := parsePHC(encoded)
		if err != nil {
			if busy := h.dummy(password); busy != nil {
				return false, false, busy
			}
			return false, false, err
		}
		key, err := h.compute(password, p.salt, p.params, uint32(len(p.key)))
		if err != nil {
			return false, false, err
		}
		if subtle.ConstantTimeCompare(key, p.key) != 1 {
			return false, false, nil
		}
		return true, h.weaker(p), nil
	}

	// Even when no argon2 hash is stored, spend the same time as for one,
	// so the kind of stored hash cannot be told from outside.
	if err := h.dummy(password); err != nil {
		return false, false, err
	}
	if !isLegacyHex(encoded) {
		return false, false, nil
	}
	sum := sha256.Sum256([]byte(password))
	want, _ := hex.DecodeString(encoded) // isLegacyHex checked it
	if subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return false, false, nil
	}
	return true, true, nil
}

// VerifyDummy does the work of Verify against a hash with the current
// parameters, for logins with an unknown email: both take the same time.
// Its only error is ErrBusy.
func (h *Hasher) VerifyDummy(password string) error {
	h.verifications.Add(1)
	return h.dummy(password)
}

func (h *Hasher) dummy(password string) error {
	key, err := h.compute(password, h.dummySalt, h.params, argonKeyLen)
	if err != nil {
		return err
	}
	subtle.ConstantTimeCompare(key, h.dummyKey)
	return nil
}

// Refused reports how many computations ErrBusy refused.
func (h *Hasher) Refused() uint64 { return h.refused.Load() }

// compute runs one argon2id derivation within the concurrency bound.
func (h *Hasher) compute(password string, salt []byte, p Argon2Params, n uint32) ([]byte, error) {
	if err := h.acquire(); err != nil {
		return nil, err
	}
	defer func() { <-h.sem }()
	if h.onCompute != nil {
		h.onCompute()
	}
	start := time.Now()
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, n)
	took := time.Since(start)
	// An exponentially weighted average (1/8 per sample) follows the
	// machine's current speed without jumping at one slow computation.
	for {
		old := h.avgNanos.Load()
		next := old + (int64(took)-old)/8
		if old == 0 {
			next = int64(took)
		}
		if h.avgNanos.CompareAndSwap(old, next) {
			break
		}
	}
	if h.observe != nil {
		h.observe(took)
	}
	return key, nil
}

// acquire takes a computation slot, or refuses with ErrBusy when the wait
// would exceed MaxWait.
func (h *Hasher) acquire() error {
	select {
	case h.sem <- struct{}{}:
		return nil // a free slot: no queue
	default:
	}
	if h.maxWait <= 0 {
		h.sem <- struct{}{}
		return nil
	}
	ahead := h.waiting.Add(1)
	defer h.waiting.Add(-1)
	expected := time.Duration(ahead * h.avgNanos.Load() / int64(cap(h.sem)))
	if expected > h.maxWait {
		h.refused.Add(1)
		return fmt.Errorf("%w: about %s to wait", ErrBusy, expected.Round(time.Millisecond))
	}
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-timer.C:
		h.refused.Add(1)
		return fmt.Errorf("%w: waited %s", ErrBusy, h.maxWait)
	}
}

// weaker reports whether a stored hash is cheaper to attack than one Hash
// would make now.
func (h *Hasher) weaker(p phc) bool {
	return p.params.MemoryKiB < h.params.MemoryKiB ||
		p.params.Iterations < h.params.Iterations ||
		p.params.Parallelism < h.params.Parallelism ||
		len(p.key) < argonKeyLen ||
		len(p.salt) < argonSaltLen
}

// phc is a parsed argon2id PHC string.
type phc struct {
	params    Argon2Params
	salt, key []byte
}

func (p phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.params.MemoryKiB, p.params.Iterations, p.params.Parallelism,
		phcBase64.EncodeToString(p.salt), phcBase64.EncodeToString(p.key))
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$key. The errors name
// what is wrong but never quote the input.
func parsePHC(s string) (phc, error) {
	var p phc
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return p, fmt.Errorf("%w: want 5 $-separated fields", ErrMalformedHash)
	}
	if f[1] != "argon2id" {
		return p, fmt.Errorf("%w: algorithm is not argon2id", ErrMalformedHash)
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, fmt.Errorf("%w: version is not %d", ErrMalformedHash, argon2.Version)
	}

	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return p, fmt.Errorf("%w: want parameters m,t,p", ErrMalformedHash)
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, fmt.Errorf("%w: want parameters m,t,p", ErrMalformedHash)
		}
		vals[i] = n
	}
	m, t, par := vals[0], vals[1], vals[2]
	if t < 1 || t > phcMaxIterations || par < 1 || par > 255 || m < 8*par || m > phcMaxMemoryKiB {
		return p, fmt.Errorf("%w: parameters out of range", ErrMalformedHash)
	}
	p.params = Argon2Params{MemoryKiB: uint32(m), Iterations: uint32(t), Parallelism: uint8(par)}

	var err error
	if p.salt, err = phcBase64.DecodeString(f[4]); err != nil || len(p.salt) < phcMinSaltLen || len(p.salt) > phcMaxSaltLen {
		return phc{}, fmt.Errorf("%w: bad salt", ErrMalformedHash)
	}
	if p.key, err = phcBase64.DecodeString(f[5]); err != nil || len(p.key) < phcMinKeyLen || len(p.key) > phcMaxKeyLen {
		return phc{}, fmt.Errorf("%w: bad key", ErrMalformedHash)
	}
	return p, nil
}

// isLegacyHex reports whether s is the old service's password hash:
// 64 lowercase hex digits (SHA-256).
func isLegacyHex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func hasherRandom(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (it crashes the
	// program instead), so the error is not checked.
	_, _ = rand.Read(b)
	return b
}
