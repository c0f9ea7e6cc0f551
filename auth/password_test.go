package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

var (
	// Tiny parameters keep the tests fast under -race.
	argonTestParams = Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	// OWASP's parameters, the production defaults.
	argonProdParams = Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}
)

func TestHashVerifyRoundTrip(t *testing.T) {
	h := NewHasher(argonTestParams, HasherOptions{})
	for _, pw := range []string{"password", "pässwörd with spaces", "colon:inside", strings.Repeat("é", 128), ""} {
		enc, err := h.Hash(pw)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$"), enc)

		ok, rehash, err := h.Verify(pw, enc)
		require.NoError(t, err)
		assert.True(t, ok, "%q", pw)
		assert.False(t, rehash)

		ok, rehash, err = h.Verify(pw+"x", enc)
		require.NoError(t, err)
		assert.False(t, ok)
		assert.False(t, rehash, "needsRehash only with a match")
	}
}

func TestHashFormat(t *testing.T) {
	h := NewHasher(argonTestParams, HasherOptions{Slots: 1})
	enc, err := h.Hash("password")
	require.NoError(t, err)

	f := strings.Split(enc, "$")
	require.Len(t, f, 6)
	salt, err := phcBase64.DecodeString(f[4])
	require.NoError(t, err)
	key, err := phcBase64.DecodeString(f[5])
	require.NoError(t, err)
	assert.Len(t, salt, 16)
	assert.Len(t, key, 32)
	assert.NotContains(t, f[4]+f[5], "=", "no base64 padding")
}

func TestHashProductionParams(t *testing.T) {
	h := NewHasher(argonProdParams, HasherOptions{})
	enc, err := h.Hash("correct horse battery staple")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$"), enc)

	ok, rehash, err := h.Verify("correct horse battery staple", enc)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, rehash)

	ok, _, err = h.Verify("Correct horse battery staple", enc)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestSaltsDiffer(t *testing.T) {
	h := NewHasher(argonTestParams, HasherOptions{})
	a, err := h.Hash("same password")
	require.NoError(t, err)
	b, err := h.Hash("same password")
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	assert.NotEqual(t, strings.Split(a, "$")[4], strings.Split(b, "$")[4])
}

func TestVerifyOtherParamsNeedsRehash(t *testing.T) {
	current := Argon2Params{MemoryKiB: 128, Iterations: 2, Parallelism: 2}
	h := NewHasher(current, HasherOptions{})

	tests := []struct {
		name        string
		params      Argon2Params
		argonKeyLen uint32
		rehash      bool
	}{
		{"same", current, 32, false},
		{"less memory", Argon2Params{MemoryKiB: 64, Iterations: 2, Parallelism: 2}, 32, true},
		{"fewer iterations", Argon2Params{MemoryKiB: 128, Iterations: 1, Parallelism: 2}, 32, true},
		{"less parallelism", Argon2Params{MemoryKiB: 128, Iterations: 2, Parallelism: 1}, 32, true},
		{"shorter key", current, 16, true},
		{"stronger", Argon2Params{MemoryKiB: 256, Iterations: 3, Parallelism: 2}, 64, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Build the stored hash the way another parameter set would have.
			salt := hasherRandom(argonSaltLen)
			p := phc{params: tt.params, salt: salt}
			p.key, _ = NewHasher(tt.params, HasherOptions{Slots: 1}).compute("hunter22", salt, tt.params, tt.argonKeyLen)

			ok, rehash, err := h.Verify("hunter22", p.String())
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, tt.rehash, rehash)

			ok, rehash, err = h.Verify("hunter23", p.String())
			require.NoError(t, err)
			assert.False(t, ok)
			assert.False(t, rehash)
		})
	}
}

func TestVerifyLegacySHA256(t *testing.T) {
	h := NewHasher(argonTestParams, HasherOptions{})
	const legacy = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8" // sha256("password")

	ok, rehash, err := h.Verify("password", legacy)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, rehash, "legacy hashes are replaced at the next login")

	ok, rehash, err = h.Verify("Password", legacy)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.False(t, rehash)

	// Only lowercase hex is the old service's format.
	ok, _, err = h.Verify("password", strings.ToUpper(legacy))
	require.NoError(t, err)
	assert.False(t, ok)

	sum := sha256.Sum256([]byte("pässwörd"))
	ok, _, err = h.Verify("pässwörd", hex.EncodeToString(sum[:]))
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestVerifyMalformed(t *testing.T) {
	h := NewHasher(argonTestParams, HasherOptions{})
	good, err := h.Hash("password")
	require.NoError(t, err)
	f := strings.Split(good, "$")
	salt, key := f[4], f[5]

	notPHC := []string{
		"",
		"password",
		"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d",   // 63 chars
		"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8a", // 65 chars
		"ze884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
		"argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
	}
	for _, enc := range notPHC {
		ok, rehash, err := h.Verify("password", enc)
		assert.NoError(t, err, "%q", enc)
		assert.False(t, ok, "%q", enc)
		assert.False(t, rehash, "%q", enc)
	}

	malformed := []string{
		"$",
		"$$$$$",
		"$argon2id",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=9$" + salt + "$" + key, // m < 8*p
		"$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=101,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "==",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,     // 4-byte salt
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5", // 3-byte key
	}
	for _, enc := range malformed {
		ok, rehash, err := h.Verify("password", enc)
		assert.ErrorIs(t, err, ErrMalformedHash, "%q", enc)
		assert.False(t, ok, "%q", enc)
		assert.False(t, rehash, "%q", enc)
		if err != nil && len(enc) > 8 {
			assert.NotContains(t, err.Error(), salt, "error must not quote the hash")
			assert.NotContains(t, err.Error(), enc)
		}
	}
}

func TestVerificationsCounter(t *testing.T) {
	h := NewHasher(argonTestParams, HasherOptions{})
	var computed atomic.Uint64
	h.onCompute = func() { computed.Add(1) }

	enc, err := h.Hash("password")
	require.NoError(t, err)
	assert.Zero(t, h.Verifications(), "Hash is not a verification")

	_, _, _ = h.Verify("password", enc)
	_, _, _ = h.Verify("wrong", enc)
	_, _, _ = h.Verify("password", "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8")
	_, _, _ = h.Verify("password", "")
	_, _, _ = h.Verify("password", "$argon2id$broken")
	h.VerifyDummy("password")
	assert.Equal(t, uint64(6), h.Verifications())
	// Hash + one argon2 computation per verification, whatever was stored.
	assert.Equal(t, uint64(7), computed.Load())
}

func TestVerifyDummy(t *testing.T) {
	h := NewHasher(argonTestParams, HasherOptions{})
	var lens []int
	h.onCompute = func() { lens = append(lens, 0) }
	h.VerifyDummy("anything")
	assert.Len(t, lens, 1)
	assert.Equal(t, uint64(1), h.Verifications())
}

// TestConcurrencyBound checks that no more than maxConcurrent argon2
// computations are ever in flight. The hook holds each computation until
// the bound is reached, so the bound is also shown to be reachable; nothing
// depends on timing.
func TestConcurrencyBound(t *testing.T) {
	for _, limit := range []int{1, 2} {
		h := NewHasher(argonTestParams, HasherOptions{Slots: limit})
		enc, err := h.Hash("password")
		require.NoError(t, err)

		var mu sync.Mutex
		inFlight, maxInFlight := 0, 0
		reached := make(chan struct{})
		h.onCompute = func() {
			mu.Lock()
			inFlight++
			maxInFlight = max(maxInFlight, inFlight)
			if inFlight == limit {
				select {
				case <-reached:
				default:
					close(reached)
				}
			}
			mu.Unlock()
			<-reached // hold the slot until the bound has been reached once
			mu.Lock()
			inFlight--
			mu.Unlock()
		}

		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if i%2 == 0 {
					h.VerifyDummy("password")
					return
				}
				ok, _, err := h.Verify("password", enc)
				assert.NoError(t, err)
				assert.True(t, ok)
			})
		}
		wg.Wait()
		assert.Equal(t, limit, maxInFlight, "limit %d", limit)
		assert.Equal(t, uint64(8), h.Verifications())
	}
}

func TestNewHasherDefaults(t *testing.T) {
	h := NewHasher(argonTestParams, HasherOptions{})
	assert.Positive(t, cap(h.sem))
	assert.Panics(t, func() { NewHasher(Argon2Params{}, HasherOptions{Slots: 1}) })
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher(argonProdParams, HasherOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := NewHasher(argonProdParams, HasherOptions{})
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, _ := h.Verify("correct horse battery staple", enc); !ok {
			b.Fatal("no match")
		}
	}
}

// TestHasherMaxWait: with every slot taken and a queue whose expected wait
// is over MaxWait, a computation is refused at once as 503-class ErrBusy
// and costs no hash; once the queue is short, work is admitted again.
func TestHasherMaxWait(t *testing.T) {
	h := NewHasher(Argon2Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}, HasherOptions{Slots: 1})
	h.maxWait = time.Hour
	h.sem <- struct{}{} // the only slot is taken
	// Recent computations took 40 minutes: with one request queued ahead,
	// a newcomer would wait about 80 minutes, over MaxWait.
	h.avgNanos.Store(int64(40 * time.Minute))
	h.waiting.Add(1)
	var computed atomic.Int32
	h.onCompute = func() { computed.Add(1) }

	stored, err := NewHasher(Argon2Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}, HasherOptions{Slots: 1}).Hash("second")
	require.NoError(t, err)
	_, _, err = h.Verify("second", stored)
	require.ErrorIs(t, err, ErrBusy)
	assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(err))
	assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(h.VerifyDummy("third")))
	_, err = h.Hash("fourth")
	assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(err))
	assert.Equal(t, uint64(3), h.Refused())
	assert.Zero(t, computed.Load(), "a refused request costs no hash")

	h.waiting.Add(-1)
	<-h.sem
	ok, _, err := h.Verify("second", stored)
	require.NoError(t, err)
	assert.True(t, ok, "admitted again once a slot is free")
	assert.Equal(t, int32(1), computed.Load())
}

// TestHasherMaxWaitTimeout: a computation let into the queue is refused
// when its real wait reaches MaxWait.
func TestHasherMaxWaitTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHasher(Argon2Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}, HasherOptions{Slots: 1})
		h.maxWait = 2 * time.Second
		h.sem <- struct{}{} // the only slot is taken, no average known yet
		start := time.Now()
		_, err := h.Hash("waits")
		assert.ErrorIs(t, err, ErrBusy)
		assert.Equal(t, 2*time.Second, time.Since(start))
		<-h.sem
	})
}
