package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"simpleapi/config"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitCode prints err and maps it to the exit status: 0 for none, 2 for
// usage and configuration errors, 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	var cfgErr *config.Error
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &cfgErr), errors.As(err, &usage):
		fmt.Fprintln(stderr, "simpleapi:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "simpleapi:", err)
		return 1
	}
}

const mainUsage = `simpleapi — the Simple API authentication service

Usage:
  simpleapi [serve] [flags]     run the server (the default)
  simpleapi user <command>      manage the users of USER_STORE (create, list, set-role, passwd, delete)
  simpleapi migrate <command>   PostgreSQL schema (status, up) and import-json
  simpleapi healthcheck [flags] exit 0 when the server running on DATA_DIR (else the one at
                                API_HOST:API_PORT) is ready: /readyz answers 200
  simpleapi version             print the version (also -v, --version)

Run "simpleapi <command> -h" for the flags of a command.
`

// Run is the whole program: main supplies the process's arguments (without
// the program name), environment and standard streams, and exits with the
// status Run returns. Errors are printed to stderr here.
func Run(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) int {
	return exitCode(run(ctx, args, getenv, stdin, stdout, stderr), stderr)
}

// run picks the command; its error decides the exit status.
func run(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "" || args[0][0] != '-') {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "-v" || args[0] == "--version" || args[0] == "-version") {
		cmd, args = "version", args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "user":
		return runUserCommand(ctx, args, getenv, stdin, stdout, stderr)
	case "migrate":
		return migrateCommand(ctx, args, getenv, stdout)
	case "healthcheck":
		return healthcheck(ctx, args, getenv, stdout)
	case "version":
		f := newCommandFlags("version", "version   (also -v, --version)",
			"Prints the version, the VCS revision, the Go version and the platform of this binary.")
		if done, err := f.parse(args, stdout); done {
			return err
		}
		fmt.Fprintln(stdout, currentBuild())
		return nil
	case "help":
		fmt.Fprint(stdout, mainUsage)
		return nil
	default:
		return usageError{fmt.Sprintf("unknown command %q (see simpleapi -h)", cmd)}
	}
}
