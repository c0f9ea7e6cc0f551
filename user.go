package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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

Each works on DATA_DIR (or --data-dir) directly and refuses while a server
holds it. Passwords are read from standard input, or prompted for on a
terminal; never from a flag.
`

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
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := fs.String("data-dir", cfg.DataDir, "data directory (DATA_DIR)")
	email := fs.String("email", "", "the user's email")
	role := fs.String("role", "", "user or admin")
	firstName := fs.String("first-name", "", "first name")
	lastName := fs.String("last-name", "", "last name")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, userUsage)
			return nil
		}
		return usageError{fmt.Sprintf("user %s: %v", sub, err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("user %s: unexpected argument %q", sub, fs.Arg(0))}
	}
	needEmail := sub == "create" || sub == "set-role" || sub == "passwd"
	if needEmail && *email == "" {
		return usageError{fmt.Sprintf("user %s: --email is required", sub)}
	}

	db, err := jsonfile.Open(*dataDir, jsonfile.Options{})
	if errors.Is(err, jsonfile.ErrLocked) {
		return fmt.Errorf("%w; stop the server first (nothing was changed)", err)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	accounts := &auth.Accounts{
		Users:             db.Users(),
		Hasher:            auth.NewHasher(cfg.Argon2, 0),
		PasswordMinLength: cfg.PasswordMinLength,
	}

	switch sub {
	case "create":
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		in := auth.NewUser{Email: *email, Password: password}
		if *role != "" {
			in.Role = role
		}
		if *firstName != "" {
			in.FirstName = firstName
		}
		if *lastName != "" {
			in.LastName = lastName
		}
		u, err := accounts.Create(ctx, in)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "created %s %s (%s)\n", u.ID, u.Email, u.Role)
	case "list":
		users, err := db.Users().ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tCREATED_AT")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, u.CreatedAt.UTC().Format("2006-01-02T15:04:05"))
		}
		return tw.Flush()
	case "set-role":
		u, err := db.Users().UserByEmail(ctx, *email)
		if err != nil {
			return cliError(err)
		}
		admin := store.User{Role: store.RoleAdmin}
		if _, err := accounts.Update(ctx, admin, u.ID, auth.Changes{Role: role}); err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "%s is now %s\n", u.Email, *role)
	case "passwd":
		u, err := db.Users().UserByEmail(ctx, *email)
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
		fmt.Fprintf(stdout, "password of %s changed\n", u.Email)
	default:
		return usageError{fmt.Sprintf("unknown user command %q (see simpleapi user -h)", sub)}
	}
	return nil
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
