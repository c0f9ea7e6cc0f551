package jsonfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// sessionsCrashEnv names the data directory of a sessionsCrashChild
// process; sessionsCrashRoundEnv its round number. sessionsCrashSeedEnv
// is the random seed of the whole test: set it to replay a run (the kill
// moments and the operations chosen follow from it; how far each child
// gets before its kill still depends on the machine).
const (
	sessionsCrashEnv      = "JSONFILE_SESSIONS_CRASH_CHILD"
	sessionsCrashRoundEnv = "JSONFILE_SESSIONS_CRASH_ROUND"
	sessionsCrashSeedEnv  = "JSONFILE_SESSIONS_CRASH_SEED"
)

// crashIdle is how far the child's sessions' idle deadlines lie past
// their last use: far enough that none expires during the test, so that
// DeleteExpired only writes touches.
const crashIdle = 1000 * time.Hour

// crashSeed returns the seed in sessionsCrashSeedEnv, or a random one.
func crashSeed(t *testing.T) uint64 {
	if v := os.Getenv(sessionsCrashSeedEnv); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "%s", sessionsCrashSeedEnv)
		return seed
	}
	return mrand.Uint64()
}

// crashSession is what TestSessionsCrash knows of one session a child
// process printed.
type crashSession struct {
	round int
	user  string
	hash  store.TokenHash // sha256 of the base64url token, recomputed by the parent
	// family is the session's family: the hash of its first token, or of
	// the token of its latest renewal (the child makes each such token its
	// own family secret); left is the family a renewal left (zero: none).
	family store.TokenHash
	left   store.TokenHash
	// A token rotation: prev is the token the latest acknowledged one
	// replaced (zero: none), next the new token of one announced and not
	// acknowledged (nil: none), and renew whether that one is a renewal.
	prev     store.TokenHash
	next     *store.TokenHash
	renew    bool
	created  bool      // creation acknowledged
	deleting bool      // deletion started (always after the creation)
	deleted  bool      // deletion acknowledged
	acked    time.Time // latest last-use time made durable (creation, or a touch before a DeleteExpired)
	// What the last reopen found: whether the session was there and its
	// last-use time.
	present  bool
	lastSeen time.Time
}

// TestSessionsCrash is TestCrash for the sessions store: it kills a child
// process that creates, touches, deletes and expires sessions
// (sessionsCrashChild)
// at random moments, on one directory over many rounds with a compaction
// threshold low enough that compactions get interrupted too, and after each
// kill checks that
//   - every file still loads;
//   - every acknowledged create is there, by id and by family (and in its
//     user's list), unless a delete of it followed (acknowledged, or
//     announced and in flight at the kill), and every acknowledged delete
//     holds;
//   - every acknowledged token rotation holds: the session has the new
//     token, and the replaced one as its previous token; a renewal moves
//     the session to its new family, and the family it left finds nothing;
//   - last-use times never go back from a touch made durable (one
//     acknowledged before a DeleteExpired began that was then
//     acknowledged), and idle deadlines move with them;
//   - sessions of earlier rounds, which no later child writes, stay exactly
//     as the previous reopen found them;
//   - no file in the directory holds any token the child made, in any
//     common encoding (only token hashes may be stored).
func TestSessionsCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	const rounds = 20
	seed := crashSeed(t)
	t.Logf("seed %d (replay with %s=%d)", seed, sessionsCrashSeedEnv, seed)
	rng := mrand.New(mrand.NewPCG(seed, 0))
	start := time.Now()
	dir := t.TempDir()
	sessions := map[string]*crashSession{}
	tokens := newTokenSet()
	ops := map[byte]int{} // acknowledged operations by their letter
	var emptyRounds, midCompaction, tornRounds int
	// Touches in the order acknowledged: those before a DeleteExpired's
	// announcement are durable once it is acknowledged.
	type touch struct {
		id string
		at time.Time
	}
	for round := range rounds {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), sessionsCrashEnv+"="+dir, fmt.Sprintf("%s=%d", sessionsCrashRoundEnv, round),
			fmt.Sprintf("%s=%d", sessionsCrashSeedEnv, seed))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())

		lines := make(chan []string)
		go func() {
			var got []string
			r := bufio.NewReader(stdout)
			for {
				// A last line without its newline was cut short by the
				// kill: the write it reports was not acknowledged.
				l, err := r.ReadString('\n')
				if err != nil {
					break
				}
				got = append(got, strings.TrimSuffix(l, "\n"))
			}
			lines <- got
		}()
		time.Sleep(time.Duration(20+rng.IntN(281)) * time.Millisecond) // the kill moment
		killErr := cmd.Process.Signal(syscall.SIGKILL)
		got := <-lines
		err = cmd.Wait()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit) && killedBySIGKILL(exit),
			"round %d: child was not killed (signal: %v, wait: %v): %s", round, killErr, err, stderr.String())

		acks := 0
		var touches []touch
		durable := 0                  // touches[:durable] are durable
		flushMark := map[string]int{} // worker → len(touches) when it announced a DeleteExpired
		for _, l := range got {
			f := strings.Fields(l)
			require.True(t, len(f) >= 2 && len(f[0]) == 1, "round %d: bad line %q", round, l)
			op, args := f[0][0], f[1:]
			switch op {
			case 't': // t <id> <user> <token hex> <token base64url>: about to create
				require.Len(t, args, 4, "round %d: bad line %q", round, l)
				id, user, tokHex, tokB64 := args[0], args[1], args[2], args[3]
				_, dup := sessions[id]
				require.False(t, dup, "round %d: session id %s reused", round, id)
				raw, err := hex.DecodeString(tokHex)
				require.NoError(t, err, "round %d: bad line %q", round, l)
				require.Len(t, raw, 32)
				require.Equal(t, base64.RawURLEncoding.EncodeToString(raw), tokB64, "round %d: bad line %q", round, l)
				tokens.add(raw, id)
				hash := sha256.Sum256([]byte(tokB64))
				sessions[id] = &crashSession{round: round, user: user, hash: hash, family: hash}
				continue
			case 'r': // r <id> <token hex> <token base64url> rotate|renew: about to rotate to this token
				require.Len(t, args, 4, "round %d: bad line %q", round, l)
				s := sessions[args[0]]
				require.True(t, s != nil && s.created && !s.deleting && s.next == nil, "round %d: rotation of unknown %s", round, args[0])
				raw, err := hex.DecodeString(args[1])
				require.NoError(t, err, "round %d: bad line %q", round, l)
				require.Equal(t, base64.RawURLEncoding.EncodeToString(raw), args[2], "round %d: bad line %q", round, l)
				tokens.add(raw, args[0])
				next := store.TokenHash(sha256.Sum256([]byte(args[2])))
				s.next, s.renew = &next, args[3] == "renew"
				continue
			case 'R': // R <id>: rotated
				require.Len(t, args, 1, "round %d: bad line %q", round, l)
				s := sessions[args[0]]
				require.True(t, s != nil && s.next != nil, "round %d: unannounced rotation %q", round, l)
				s.rotated()
			case 'c': // c <id> <unix>: created, last used at <unix>
				require.Len(t, args, 2, "round %d: bad line %q", round, l)
				s := sessions[args[0]]
				require.NotNil(t, s, "round %d: create of %s before its token", round, args[0])
				s.created = true
				s.acked = parseUnix(t, args[1])
			case 'u': // u <id> <unix> [<id> <unix>...]: touched (in memory)
				require.True(t, len(args)%2 == 0, "round %d: bad line %q", round, l)
				for i := 0; i < len(args); i += 2 {
					s := sessions[args[i]]
					require.True(t, s != nil && s.created && !s.deleted, "round %d: touch of unknown %s", round, args[i])
					touches = append(touches, touch{args[i], parseUnix(t, args[i+1])})
				}
			case 'e': // e <worker>: about to call DeleteExpired
				require.Len(t, args, 1, "round %d: bad line %q", round, l)
				flushMark[args[0]] = len(touches)
				continue
			case 'f': // f <worker>: DeleteExpired done, the touches before its e line are durable
				require.Len(t, args, 1, "round %d: bad line %q", round, l)
				mark, ok := flushMark[args[0]]
				require.True(t, ok, "round %d: unannounced DeleteExpired %q", round, l)
				for _, tc := range touches[min(durable, mark):mark] {
					if s := sessions[tc.id]; tc.at.After(s.acked) {
						s.acked = tc.at
					}
				}
				durable = max(durable, mark)
			case 'x': // x <n> <id>...: about to delete
				for _, id := range idList(t, args, l) {
					s := sessions[id]
					require.True(t, s != nil && s.created && !s.deleting, "round %d: delete of unknown %s", round, id)
					s.deleting = true
				}
				continue
			case 'd', 'a': // d|a <n> <id>...: DeleteSession, DeleteUserSessions
				for _, id := range idList(t, args, l) {
					s := sessions[id]
					require.True(t, s != nil && s.deleting && !s.deleted, "round %d: unannounced delete of %s", round, id)
					s.deleted = true
				}
			default:
				require.Fail(t, "bad line", "round %d: %q", round, l)
			}
			ops[op]++
			acks++
		}
		if acks == 0 {
			emptyRounds++ // killed before the first write: a crash during Open
		}
		if fileExists(filepath.Join(dir, sessionsFile+".journal.old")) || fileExists(filepath.Join(dir, sessionsFile+".tmp")) {
			midCompaction++
		}
		mustHold := false // some session must be on disk now
		for _, s := range sessions {
			mustHold = mustHold || (s.created && !s.deleting)
		}
		tokens.requireAbsent(t, dir, mustHold, fmt.Sprintf("round %d, as the crash left it", round))

		opts, logs := testOptions()
		opts.Sessions = true
		opts.CompactAfter = 1 << 30 // leave the files as the crash left them
		opts.QuietCompactAfter = -1
		opts.Now = func() time.Time { return testTime } // before every deadline
		db, err := Open(dir, opts)
		require.NoError(t, err, "round %d", round)
		if strings.Contains(logs.String(), "torn tail") {
			tornRounds++
		}
		checkCrashedSessions(t, db.Sessions(), sessions, round)
		require.NotContains(t, logs.String(), "level=ERROR", "round %d", round)
		// Close without compacting sometimes, so that the next child
		// starts on a long journal (a journal.old left by this crash was
		// folded in by Open already).
		if round%2 == 0 {
			db.sessions.t.mu.Lock()
			db.sessions.t.jrecs = 0
			db.sessions.t.mu.Unlock()
		}
		require.NoError(t, db.Close())
		mustHold = false
		for _, s := range sessions {
			mustHold = mustHold || s.present
		}
		tokens.requireAbsent(t, dir, mustHold, fmt.Sprintf("round %d, after a clean close", round))
	}

	live := 0
	for _, s := range sessions {
		if s.present {
			live++
		}
	}
	t.Logf("%d rounds in %v: %d acknowledged operations (%d creates, %d touches, %d rotations, %d DeleteSession, %d DeleteUserSessions, %d DeleteExpired); "+
		"%d tokens searched for; %d sessions live at the end; %d kills during a compaction, %d torn tails dropped, %d kills before the first write",
		rounds, time.Since(start).Round(time.Millisecond), ops['c']+ops['u']+ops['R']+ops['d']+ops['a']+ops['f'],
		ops['c'], ops['u'], ops['R'], ops['d'], ops['a'], ops['f'], tokens.n, live, midCompaction, tornRounds, emptyRounds)
	require.Greater(t, ops['c'], 100)
	for _, op := range []byte("uRdaf") {
		require.Positive(t, ops[op], "no %q operation acknowledged", op)
	}
}

// rotated records that the announced rotation of s took place.
func (s *crashSession) rotated() {
	if s.renew {
		s.left, s.family = s.family, *s.next
	}
	s.prev, s.hash, s.next, s.renew = s.hash, *s.next, nil, false
}

// checkCrashedSessions checks what a reopened store holds against what the
// child processes acknowledged (see TestSessionsCrash), and records what it
// found for the next round's check.
func checkCrashedSessions(t *testing.T, ss store.SessionStore, sessions map[string]*crashSession, round int) {
	t.Helper()
	ctx := t.Context()
	present := 0
	byUser := map[string][]string{}
	for id, s := range sessions {
		got, err := ss.SessionByID(ctx, id)
		found := err == nil
		if !found {
			require.Equal(t, store.ENOTFOUND, codeOf(err), "round %d: session %s: %v", round, id, err)
		}
		if found && s.next != nil && got.TokenHash == *s.next {
			s.rotated() // the rotation in flight at the kill reached the disk
		}
		if found {
			s.next, s.renew = nil, false // no later child rotates it
		}
		byFamily, err := ss.SessionByFamily(ctx, s.family)
		if found {
			require.NoError(t, err, "round %d: session %s found by id but not by family", round, id)
			require.Equal(t, got, byFamily, "round %d: session %s", round, id)
			require.Equal(t, s.family, got.Family, "round %d: session %s: family", round, id)
			require.Equal(t, s.hash, got.TokenHash, "round %d: session %s: token", round, id)
			require.Equal(t, s.prev, got.PrevTokenHash, "round %d: session %s: previous token", round, id)
			require.Equal(t, s.user, got.UserID, "round %d: session %s", round, id)
		} else {
			require.Equal(t, store.ENOTFOUND, codeOf(err), "round %d: session %s found by family but not by id", round, id)
		}
		if s.left != (store.TokenHash{}) {
			_, err := ss.SessionByFamily(ctx, s.left)
			require.Equal(t, store.ENOTFOUND, codeOf(err), "round %d: session %s found by the family it left", round, id)
		}

		switch {
		case s.deleted:
			require.False(t, found, "round %d: deleted session %s (from round %d) is back", round, id, s.round)
		case s.created && !s.deleting: // maybe touched too, in flight when killed
			require.True(t, found, "round %d: created session %s (from round %d) lost", round, id, s.round)
		}
		if found {
			require.False(t, got.LastSeenAt.Before(s.acked),
				"round %d: session %s (from round %d): last use %v went back from acknowledged %v", round, id, s.round, got.LastSeenAt, s.acked)
			require.Equal(t, got.LastSeenAt.Add(crashIdle), got.IdleExpiresAt,
				"round %d: session %s (from round %d): idle deadline apart from last use", round, id, s.round)
			if s.present {
				require.False(t, got.LastSeenAt.Before(s.lastSeen),
					"round %d: session %s (from round %d): last use %v went back from %v", round, id, s.round, got.LastSeenAt, s.lastSeen)
			}
		}
		// No later child writes a session, so once its own round is over
		// it must stay as found.
		if s.round < round {
			require.Equal(t, s.present, found, "round %d: session %s (from round %d) changed", round, id, s.round)
			if found {
				require.Equal(t, s.lastSeen, got.LastSeenAt, "round %d: session %s (from round %d) changed", round, id, s.round)
			}
		}
		s.present, s.lastSeen = found, got.LastSeenAt
		if found {
			present++
			byUser[s.user] = append(byUser[s.user], id)
		}
	}
	// Nothing else is there (every create was announced first), and the
	// per-user index agrees.
	n, err := ss.CountSessions(ctx)
	require.NoError(t, err)
	require.Equal(t, present, n, "round %d: session count", round)
	for user, want := range byUser {
		list, err := ss.ListSessions(ctx, user)
		require.NoError(t, err)
		var ids []string
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		require.ElementsMatch(t, want, ids, "round %d: sessions of %s", round, user)
	}
}

// sessionsCrashChild works on sessions from 16 goroutines until killed.
// Each goroutine has its own users and sessions, and does one operation at a
// time, printing it once acknowledged:
//
//	t <id> <user> <token hex> <token base64url>  before creating a session
//	c <id> <unix>                                created, last used at <unix>
//	u <id> <unix> [<id> <unix>...]               touched (TouchSession)
//	x <n> <id>...                                before deleting sessions
//	d|a <n> <id>...                              deleted (DeleteSession,
//	                                             DeleteUserSessions)
//	r <id> <token hex> <token base64url> rotate|renew
//	                                             before rotating a token
//	                                             (renew: into a new family)
//	R <id>                                       rotated (RotateToken)
//	e <worker>                                   before DeleteExpired
//	f <worker>                                   DeleteExpired done
//
// The store's clock is shared by the goroutines, which move it a second
// per step, so that TouchSession writes touches now and then as well.
//
// Tokens are printed before the create, so that the parent knows every
// token that could have reached the disk, and deletes are announced, so
// that it knows which sessions a delete in flight at the kill may have
// removed. A token's hash, the only form the store sees, is the sha256 of
// its base64url form, as auth.HashToken computes it. A session's first
// token, and the token of a renewal, is its own family secret, as a token
// issued before families is: its hash is the family.
func sessionsCrashChild(dir string) {
	// Outlive a parent that failed to kill us by seconds, not forever.
	time.AfterFunc(20*time.Second, func() { os.Exit(3) })
	round, err := strconv.Atoi(os.Getenv(sessionsCrashRoundEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	seed, err := strconv.ParseUint(os.Getenv(sessionsCrashSeedEnv), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var clock atomic.Int64 // the store's clock, Unix seconds
	clock.Store(testTime.Add(time.Duration(round) * 24 * time.Hour).Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0).UTC() }
	tick := func() time.Time { return time.Unix(clock.Add(1), 0).UTC() }
	db, err := Open(dir, Options{Sessions: true, CompactAfter: 40, Now: now})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ss := db.Sessions()

	var mu sync.Mutex
	ack := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		// One short write per line: it reaches the pipe whole or not at all.
		os.Stdout.Write(fmt.Appendf(nil, format+"\n", args...))
	}
	fatal := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(1)
	}
	for g := range 16 {
		go func() {
			rng := mrand.New(mrand.NewPCG(seed, uint64(round*100+g+1)))
			runSessionsCrashWorker(ss, round, g, rng, tick, ack, fatal)
		}()
	}
	select {}
}

// runSessionsCrashWorker is one goroutine of sessionsCrashChild.
func runSessionsCrashWorker(ss store.SessionStore, round, g int, rng *mrand.Rand,
	tick func() time.Time, ack func(string, ...any), fatal func(string, ...any)) {
	ctx := context.Background()
	// Session ids are UUID-shaped and name the round and the goroutine.
	prefix := fmt.Sprintf("5e55%02d%02d-", round, g)
	users := []string{
		fmt.Sprintf("r%d-g%d-u0", round, g),
		fmt.Sprintf("r%d-g%d-u1", round, g),
		fmt.Sprintf("r%d-g%d-u2", round, g),
	}
	// A few sessions per round are never deleted, so that sessions of
	// earlier rounds pile up and ride through later crashes and
	// compactions.
	keeper := fmt.Sprintf("r%d-g%d-keep", round, g)
	type session struct {
		id, user string
		family   store.TokenHash
		hash     store.TokenHash
		lastSeen time.Time
	}
	var mine []*session // this goroutine's live sessions, oldest first
	deletable := func(user string) []*session {
		var list []*session
		for _, s := range mine {
			if s.user != keeper && (user == "" || s.user == user) {
				list = append(list, s)
			}
		}
		return list
	}
	idsOf := func(list []*session) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%d", len(list))
		for _, s := range list {
			b.WriteString(" " + s.id)
		}
		return b.String()
	}
	forget := func(gone []*session) string {
		mine = slices.DeleteFunc(mine, func(s *session) bool { return slices.Contains(gone, s) })
		return idsOf(gone)
	}

	for k := 0; ; k++ {
		// Create.
		user := users[k%len(users)]
		if k%32 == 0 {
			user = keeper
		}
		token := make([]byte, 32)
		rand.Read(token)
		enc := base64.RawURLEncoding.EncodeToString(token)
		clock := tick()
		s := store.Session{
			ID:            fmt.Sprintf("%s0000-4000-8000-%012d", prefix, k),
			Family:        sha256.Sum256([]byte(enc)),
			TokenHash:     sha256.Sum256([]byte(enc)),
			UserID:        user,
			CreatedAt:     clock,
			LastSeenAt:    clock,
			IdleExpiresAt: clock.Add(crashIdle),
			RotatedAt:     clock,
			IP:            "203.0.113.7",
			UserAgent:     "crash-test/1.0",
		}
		if k%2 == 0 {
			s.ExpiresAt = clock.Add(2 * crashIdle)
		}
		ack("t %s %s %s %s", s.ID, user, hex.EncodeToString(token), enc)
		if err := ss.CreateSession(ctx, s); err != nil {
			fatal("create %s: %v", s.ID, err)
		}
		ack("c %s %d", s.ID, clock.Unix())
		mine = append(mine, &session{id: s.ID, user: user, family: s.Family, hash: s.TokenHash, lastSeen: clock})

		// Touch one to three sessions, sometimes with a time older than
		// the one stored (which the store must ignore), and an unknown id.
		clock = tick()
		var line strings.Builder
		line.WriteString("u")
		for range 1 + rng.IntN(3) {
			s := mine[rng.IntN(len(mine))]
			at := clock
			if k%5 == 0 {
				at = s.lastSeen.Add(-time.Hour)
			}
			if err := ss.TouchSession(ctx, s.id, at, at.Add(crashIdle)); err != nil {
				fatal("touch %s: %v", s.id, err)
			}
			fmt.Fprintf(&line, " %s %d", s.id, at.Unix())
			if at.After(s.lastSeen) {
				s.lastSeen = at
			}
		}
		if k%7 == 0 {
			if err := ss.TouchSession(ctx, prefix+"ffff-4000-8000-000000000000", clock, clock); store.ErrorCode(err) != store.ENOTFOUND {
				fatal("touch of an unknown session: %v", err)
			}
		}
		ack("%s", line.String())

		// Delete, most of the time, so that the journal keeps outgrowing
		// the live set and compactions keep running.
		switch {
		case k%8 == 3:
			user := users[(k/8)%len(users)]
			gone := deletable(user)
			except := ""
			if k%16 == 3 && len(gone) > 0 {
				i := rng.IntN(len(gone))
				except = gone[i].id
				gone = slices.Delete(gone, i, i+1)
			}
			ack("x %s", idsOf(gone))
			n, err := ss.DeleteUserSessions(ctx, user, except)
			if err != nil || n != len(gone) {
				fatal("delete sessions of %s: %d deleted, want %d: %v", user, n, len(gone), err)
			}
			ack("a %s", forget(gone))
		case k%8 == 5:
			s := mine[rng.IntN(len(mine))]
			token := make([]byte, 32)
			rand.Read(token)
			enc := base64.RawURLEncoding.EncodeToString(token)
			next := store.TokenHash(sha256.Sum256([]byte(enc)))
			kind, family := "rotate", s.family
			if k%16 == 13 {
				kind, family = "renew", next
			}
			ack("r %s %s %s %s", s.id, hex.EncodeToString(token), enc, kind)
			_, err := ss.RotateToken(ctx, s.id, s.hash, store.Rotation{Family: family, TokenHash: next, RotatedAt: clock,
				PrevTokenHash: s.hash, PrevValidUntil: clock.Add(time.Minute)})
			if err != nil {
				fatal("rotate %s: %v", s.id, err)
			}
			ack("R %s", s.id)
			s.family, s.hash = family, next
		case k%8 == 7:
			// Nothing expires; what it does is write the touches.
			ack("e %d", g)
			if n, err := ss.DeleteExpired(ctx); err != nil || n != 0 {
				fatal("delete expired sessions: %d deleted, want 0: %v", n, err)
			}
			ack("f %d", g)
		case k%2 == 0:
			if list := deletable(""); len(list) > 0 {
				s := list[rng.IntN(len(list))]
				ack("x %s", idsOf([]*session{s}))
				if err := ss.DeleteSession(ctx, s.id); err != nil {
					fatal("delete %s: %v", s.id, err)
				}
				ack("d %s", forget([]*session{s}))
			}
		}
	}
}

// idList parses the "<n> <id>..." arguments of a delete line.
func idList(t *testing.T, args []string, line string) []string {
	t.Helper()
	n, err := strconv.Atoi(args[0])
	require.NoError(t, err, "bad line %q", line)
	require.Len(t, args[1:], n, "bad line %q", line)
	return args[1:]
}

// killedBySIGKILL reports whether a child process ended by SIGKILL.
func killedBySIGKILL(exit *exec.ExitError) bool {
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func parseUnix(t *testing.T, s string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return time.Unix(n, 0).UTC()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// tokenSet holds every form in which a token might be written out (raw,
// hex, the four base64 variants), to search files for all of them at once.
type tokenSet struct {
	forms map[string]string // form → session id
	lens  []int             // the distinct lengths of the forms
	// starts has the bit prefixSlot(form) set for every form: a quick
	// filter that spares a map lookup at almost every position of a file.
	starts []uint64
	n      int // tokens added
}

// minFormLen is the length of the shortest form, the raw token.
const minFormLen = 32

func newTokenSet() *tokenSet {
	return &tokenSet{forms: map[string]string{}, starts: make([]uint64, 1<<24/64)}
}

// prefixSlot hashes the first 4 bytes of b to one of 1<<24 bits.
func prefixSlot(b []byte) uint32 {
	return binary.LittleEndian.Uint32(b) * 2654435761 >> 8
}

func (ts *tokenSet) add(raw []byte, id string) {
	ts.n++
	for _, form := range []string{
		string(raw),
		hex.EncodeToString(raw),
		strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
	} {
		ts.forms[form] = id
		slot := prefixSlot([]byte(form))
		ts.starts[slot/64] |= 1 << (slot % 64)
		if !slices.Contains(ts.lens, len(form)) {
			ts.lens = append(ts.lens, len(form))
		}
	}
}

// find returns the session id whose token b holds in some form, or "".
// It looks the windows of b of each form's length up in the set, at the
// positions where some form could start, so the cost does not grow with
// the number of tokens.
func (ts *tokenSet) find(b []byte) string {
	for i := 0; i+minFormLen <= len(b); i++ {
		slot := prefixSlot(b[i:])
		if ts.starts[slot/64]&(1<<(slot%64)) == 0 {
			continue
		}
		for _, n := range ts.lens {
			if i+n > len(b) {
				continue
			}
			if id, ok := ts.forms[string(b[i:i+n])]; ok {
				return id
			}
		}
	}
	return ""
}

// requireAbsent fails the test if any file in dir holds a token. With
// mustHold (some session must be stored) it also checks that the sessions
// files hold token hashes, so that the search is known to look at the right
// data.
func (ts *tokenSet) requireAbsent(t *testing.T, dir string, mustHold bool, when string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	hashes := !mustHold
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		if strings.HasPrefix(e.Name(), sessionsFile) && bytes.Contains(b, []byte(`"token_hash":"`)) {
			hashes = true
		}
		if id := ts.find(b); id != "" {
			require.Fail(t, "token stored", "%s: %s holds the token of session %s", when, e.Name(), id)
		}
	}
	require.True(t, hashes, "%s: no token hashes in %s*", when, sessionsFile)
}

// TestTokenSetFinds checks that the search TestSessionsCrash relies on
// finds a token in each form it knows, anywhere in a file.
func TestTokenSetFinds(t *testing.T) {
	ts := newTokenSet()
	raw := make([]byte, 32)
	rand.Read(raw)
	ts.add(raw, "the-id")
	other := make([]byte, 32)
	rand.Read(other)
	ts.add(other, "other")
	for form := range ts.forms {
		if ts.forms[form] != "the-id" {
			continue
		}
		for _, pad := range []int{0, 1, 1000} {
			b := append(bytes.Repeat([]byte{'x'}, pad), form...)
			require.Equal(t, "the-id", ts.find(b), "form %q at the end", form)
			b = append(b, `","more":1}`...)
			require.Equal(t, "the-id", ts.find(b), "form %q", form)
		}
	}
	require.Equal(t, "", ts.find(nil))
	unrelated := make([]byte, 32)
	rand.Read(unrelated)
	require.Equal(t, "", ts.find([]byte(hex.EncodeToString(unrelated)+base64.RawURLEncoding.EncodeToString(unrelated))))
}
