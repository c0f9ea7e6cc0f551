package app

import (
	"simpleapi/auth"
	"simpleapi/config"
	"simpleapi/store"
)

// The packages below app take plain option values and never read the
// configuration; these translate config's settings into them.

func argon2Params(c config.Argon2Params) auth.Argon2Params {
	return auth.Argon2Params{MemoryKiB: c.MemoryKiB, Iterations: c.Iterations, Parallelism: c.Parallelism}
}

func loginLimits(c config.LoginLimits) store.LoginLimits {
	return store.LoginLimits{
		MaxFailures:        c.MaxFailures,
		BaseDelay:          c.BaseDelay,
		MaxDelay:           c.MaxDelay,
		MaxFailuresPerHour: c.MaxFailuresPerHour,
		IPPerMinute:        c.IPPerMinute,
		IPBurst:            c.IPBurst,
	}
}
