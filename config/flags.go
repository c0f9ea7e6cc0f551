package config

import (
	"flag"
	"fmt"
	"io"
	"slices"
)

// value is a flag that only records what it was given; all parsing and
// validation happens in Load so env and flags are checked alike.
type value struct {
	s      string
	set    bool
	isBool bool
}

func (v *value) String() string {
	if v == nil {
		return ""
	}
	return v.s
}

func (v *value) Set(s string) error { v.s, v.set = s, true; return nil }
func (v *value) IsBoolFlag() bool   { return v.isBool }

// Flags are the flags of some settings, declared on a command's own flag
// set next to the command's other flags: `serve` takes every setting as a
// flag, `user` the ones that choose the stores.
type Flags struct {
	values map[string]*value // by setting name
}

// NewFlags declares on fs a flag for each named setting (API_PORT is
// --api-port), or for every setting when none is named. It panics on a
// name that is no setting: that is a mistake in the program.
func NewFlags(fs *flag.FlagSet, names ...string) *Flags {
	f := &Flags{values: map[string]*value{}}
	for _, s := range settings {
		if len(names) > 0 && !slices.Contains(names, s.name) {
			continue
		}
		v := &value{isBool: s.arg == ""}
		fs.Var(v, flagName(s.name), s.help)
		f.values[s.name] = v
	}
	if len(names) > 0 && len(f.values) != len(names) {
		panic(fmt.Sprintf("config: %v are not all settings", names))
	}
	return f
}

// Load reads every setting once the flag set is parsed: the flag if it was
// given, else the environment variable (through getenv), else the default.
// An empty value means the default. Settings that depend on each other are
// checked together.
//
// It returns a *Error for a value that is not allowed, naming the flag when
// a flag gave it. Messages never contain a secret.
func (f *Flags) Load(getenv func(string) string) (Config, error) {
	var c Config
	for _, s := range settings {
		if err := f.apply(&c, s, getenv); err != nil {
			return Config{}, err
		}
	}
	if err := c.check(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadOnly reads just the declared settings, by the rules Load applies to
// them, leaving the rest of the Config zero and unchecked: for commands
// that need a setting or two and must not fail on the others (`simpleapi
// migrate` needs DATABASE_URL alone).
func (f *Flags) LoadOnly(getenv func(string) string) (Config, error) {
	var c Config
	for _, s := range settings {
		if f.values[s.name] == nil {
			continue
		}
		if err := f.apply(&c, s, getenv); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// apply reads setting s into c from its flag, else the environment.
func (f *Flags) apply(c *Config, s setting, getenv func(string) string) error {
	if v := f.values[s.name]; v != nil && v.set {
		return s.apply(c, v.s, true)
	}
	return s.apply(c, getenv(s.name), false)
}

// Usage prints the declared flags, each with its environment variable,
// default and meaning.
func (f *Flags) Usage(w io.Writer) {
	for _, s := range settings {
		if f.values[s.name] == nil {
			continue
		}
		arg := ""
		if s.arg != "" {
			arg = "=" + s.arg
		}
		def := ""
		if s.def != "" {
			def = ", default " + s.def
		}
		fmt.Fprintf(w, "  --%s%s\n        %s%s: %s\n", flagName(s.name), arg, s.name, def, s.help)
	}
}

// Load reads the configuration of `simpleapi serve`: every setting, each
// also a flag in args (flags win over the environment).
//
// It returns flag.ErrHelp for -h/--help, a *Error for a value that is not
// allowed, and any other error for bad usage (unknown flag, missing flag
// value, stray argument), in the flag package's words.
func Load(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // callers print errors and usage
	fs.Usage = func() {}
	f := NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f.Load(getenv)
}

// Usage prints every flag of `simpleapi serve` with its environment
// variable and default.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "Flags (each also read from the environment variable shown; flags win):")
	NewFlags(flag.NewFlagSet("serve", flag.ContinueOnError)).Usage(w)
	fmt.Fprintln(w, "  -h, --help\n        show this help")
}
