package jsonfile

import (
	"os"
	"testing"
)

// Some tests run this test binary again as a child process (see TestCrash,
// TestSessionsCrash and TestLockedByOtherProcess), naming the child's part and its argument
// in an environment variable. TestMain then runs that part instead of the
// tests, so that the parts are not tests that skip themselves.
var children = map[string]func(arg string){
	lockChildEnv: lockChild,
	crashEnv:     crashChild,

	sessionsCrashEnv: sessionsCrashChild,
}

func TestMain(m *testing.M) {
	for env, child := range children {
		if arg := os.Getenv(env); arg != "" {
			child(arg)
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}
