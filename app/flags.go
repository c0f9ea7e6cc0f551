package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"simpleapi/config"
)

// commandFlags are the flags of one command: its own, and the settings it
// takes as flags (the server's, read by config: --data-dir is DATA_DIR).
// The flag package accepts -x and --x alike; usage, errors and the docs
// spell every flag --x.
type commandFlags struct {
	name     string // "user create": what errors and usage name
	synopsis string // the usage line, after "simpleapi "
	about    string // what the command does, for its help
	fs       *flag.FlagSet
	own      []ownFlag
	settings *config.Flags // nil when the command takes no setting as a flag
}

type ownFlag struct{ name, arg, help string }

// commandHelp is a command's usage line (after "simpleapi ") and what it
// does.
type commandHelp struct{ synopsis, about string }

func newCommandFlags(name, synopsis, about string) *commandFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse prints the usage, once
	fs.Usage = func() {}
	return &commandFlags{name: name, synopsis: synopsis, about: about, fs: fs}
}

// string declares a flag of the command's own; arg names its value in
// the usage.
func (f *commandFlags) string(name, arg, help string) *string {
	f.own = append(f.own, ownFlag{name: name, arg: arg, help: help})
	return f.fs.String(name, "", help)
}

// takeSettings declares the named settings as flags of the command.
func (f *commandFlags) takeSettings(names ...string) {
	f.settings = config.NewFlags(f.fs, names...)
}

// given reports whether the flag name (without dashes) was on the
// command line.
func (f *commandFlags) given(name string) bool {
	found := false
	f.fs.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}

// parse reads args, which hold flags only. For -h or --help it prints the
// usage to stdout and reports done: the command has nothing left to do.
// Anything the command does not take is a usageError.
func (f *commandFlags) parse(args []string, stdout io.Writer) (done bool, _ error) {
	err := f.fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.usage(stdout)
		return true, nil
	case err != nil:
		return true, usageError{fmt.Sprintf("%s: %s (see simpleapi %s -h)", f.name, flagError(err), f.name)}
	case f.fs.NArg() > 0:
		return true, usageError{fmt.Sprintf("%s: unexpected argument %q (see simpleapi %s -h)", f.name, f.fs.Arg(0), f.name)}
	}
	return false, nil
}

// usage prints the command's synopsis, what it does, and its flags.
func (f *commandFlags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  simpleapi %s\n\n%s\n\n", f.synopsis, strings.TrimSpace(f.about))
	if f.settings != nil {
		fmt.Fprintln(w, "Flags (those that name a variable also read it from the environment; flags win):")
	} else {
		fmt.Fprintln(w, "Flags:")
	}
	for _, o := range f.own {
		fmt.Fprintf(w, "  --%s=%s\n        %s\n", o.name, o.arg, o.help)
	}
	if f.settings != nil {
		f.settings.Usage(w)
	}
	fmt.Fprintln(w, "  -h, --help\n        show this help")
}

// splitGroup takes the command off the args of a group of commands (user,
// migrate). Without one, or for -h, it prints the group's usage and
// reports done, with the error of a missing command.
func splitGroup(group, usage string, args []string, stdout io.Writer) (cmd string, rest []string, done bool, _ error) {
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help" {
		return args[0], args[1:], false, nil
	}
	fmt.Fprint(stdout, usage)
	if len(args) == 0 {
		return "", nil, true, usageError{group + ": a command is required"}
	}
	return "", nil, true, nil
}

// flagError words the flag package's errors with the two-dash spelling.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag --" + name + " needs a value"
	}
	return msg
}
