package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"simpleapi/auth"
	"simpleapi/config"
	"simpleapi/store"
	"simpleapi/store/jsonfile"
)

const userUsage = `Usage:
  simpleapi user create --email E [--role user|admin] [--first-name F] [--last-name L]
  simpleapi user list
  simpleapi user set-role --email E --role user|admin
  simpleapi user passwd --email E
  simpleapi user delete --email E

Each works on DATA_DIR (or --data-dir), which must exist. All but list
refuse while a server holds the directory; list only reads it. Passwords
are read from standard input, or prompted for on a terminal; never from a
flag. Run "simpleapi user <command> -h" for the flags of a command.
`

// userFlags are the flags of one user command; fields a command does not
// take stay nil.
type userFlags struct {
	fs                               *flag.FlagSet
	dataDir                          *string
	email, role, firstName, lastName *string
}

// newUserFlags declares the flags that sub takes, or returns false for an
// unknown command.
func newUserFlags(sub, dataDir string, stdout io.Writer) (userFlags, bool) {
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := userFlags{fs: fs}
	var synopsis string
	switch sub {
	case "create":
		synopsis = "create --email E [--role user|admin] [--first-name F] [--last-name L]   (password on stdin)"
		f.email = fs.String("email", "", "the new user's email (required)")
		f.role = fs.String("role", "", "user (default) or admin")
		f.firstName = fs.String("first-name", "", "first name")
		f.lastName = fs.String("last-name", "", "last name")
	case "list":
		synopsis = "list   (read only: works while a server runs)"
	case "set-role":
		synopsis = "set-role --email E --role user|admin"
		f.email = fs.String("email", "", "the user's email (required)")
		f.role = fs.String("role", "", "user or admin (required)")
	case "passwd":
		synopsis = "passwd --email E   (new password on stdin)"
		f.email = fs.String("email", "", "the user's email (required)")
	case "delete":
		synopsis = "delete --email E   (the last admin cannot be deleted)"
		f.email = fs.String("email", "", "the user's email (required)")
	default:
		return f, false
	}
	f.dataDir = fs.String("data-dir", dataDir, "data directory (DATA_DIR); it must exist")
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage:\n  simpleapi user %s\n\nFlags:\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return f, true
}

// userCommand manages users without a server.
func userCommand(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, userUsage)
		if len(args) == 0 {
			return usageError{"user: a command is required"}
		}
		return nil
	}
	sub, args := args[0], args[1:]

	cfg, err := config.Load(nil, getenv)
	if err != nil {
		return err
	}
	f, ok := newUserFlags(sub, cfg.DataDir, stdout)
	if !ok {
		return usageError{fmt.Sprintf("unknown user command %q (see simpleapi user -h)", sub)}
	}
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.fs.Usage()
			return nil
		}
		return usageError{fmt.Sprintf("user %s: %v (see simpleapi user %s -h)", sub, err, sub)}
	}
	if f.fs.NArg() > 0 {
		return usageError{fmt.Sprintf("user %s: unexpected argument %q", sub, f.fs.Arg(0))}
	}
	if f.email != nil && *f.email == "" {
		return usageError{fmt.Sprintf("user %s: --email is required", sub)}
	}
	if sub == "set-role" && *f.role == "" {
		return usageError{"user set-role: --role is required (user or admin)"}
	}
	// The server creates a missing data directory; a user command must not,
	// or a mistyped path would quietly get a new, empty one.
	if fi, err := os.Stat(*f.dataDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("data directory %q does not exist or is not a directory (set DATA_DIR or --data-dir)", *f.dataDir)
	}

	if sub == "list" {
		users, err := jsonfile.ReadUsers(*f.dataDir)
		if err != nil {
			return err
		}
		return printUsers(stdout, users)
	}

	db, err := jsonfile.Open(*f.dataDir, jsonfile.Options{Sessions: jsonfile.HasSessions(*f.dataDir),
		SessionIdleTimeout: cfg.SessionIdleTimeout})
	if errors.Is(err, jsonfile.ErrLocked) {
		return fmt.Errorf("%w; stop the server first (nothing was changed)", err)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	accounts := &auth.Accounts{
		Users:             db.Users(),
		Hasher:            auth.NewHasher(argon2Params(cfg.Argon2), auth.HasherOptions{}),
		PasswordMinLength: cfg.PasswordMinLength,
		Log:               slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	// Kept sessions end as they would through the API: on deletion, on a
	// role change and (a reset by the operator) on a new password.
	if s := db.Sessions(); s != nil {
		accounts.Sessions = auth.NewSessionManager(auth.SessionConfig{Store: s, Log: accounts.Log})
	}

	switch sub {
	case "create":
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		in := auth.NewUser{Email: *f.email, Password: password}
		if *f.role != "" {
			in.Role = f.role
		}
		if *f.firstName != "" {
			in.FirstName = f.firstName
		}
		if *f.lastName != "" {
			in.LastName = f.lastName
		}
		u, err := accounts.Create(ctx, in)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "created %s %s (%s)\n", u.ID, u.Email, u.Role)
	case "set-role":
		u, err := db.Users().UserByEmail(ctx, *f.email)
		if err != nil {
			return cliError(err)
		}
		admin := store.User{Role: store.RoleAdmin}
		if _, err := accounts.Update(ctx, admin, u.ID, auth.Changes{Role: f.role}); err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "%s is now %s\n", u.Email, *f.role)
	case "passwd":
		u, err := db.Users().UserByEmail(ctx, *f.email)
		if err != nil {
			return cliError(err)
		}
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if err := accounts.SetPassword(ctx, u.ID, password); err != nil {
			return cliError(err)
		}
		if accounts.Sessions != nil {
			if _, err := accounts.Sessions.EndUserSessions(ctx, u.ID); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "password of %s changed\n", u.Email)
	case "delete":
		u, err := db.Users().UserByEmail(ctx, *f.email)
		if err != nil {
			return cliError(err)
		}
		// The same call as DELETE /api/v1/users/:id, so the same rules
		// (never the last admin) and the same audit event.
		if err := accounts.Delete(ctx, u.ID); err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "deleted %s %s\n", u.ID, u.Email)
	}
	return nil
}

// printUsers writes users as a table, never their password hashes.
func printUsers(w io.Writer, users []store.User) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tCREATED_AT")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, u.CreatedAt.UTC().Format("2006-01-02T15:04:05"))
	}
	return tw.Flush()
}

// cliError words an application error for the terminal.
func cliError(err error) error {
	if code := store.ErrorCode(err); code != store.EINTERNAL {
		if code == store.ENOTFOUND {
			return errors.New("no such user")
		}
		return errors.New(store.ErrorMessage(err))
	}
	return err
}

// readPassword prompts twice on a terminal; otherwise it reads one line
// from stdin, so scripts can pipe the password in.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Repeat password: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", errors.New("the passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
