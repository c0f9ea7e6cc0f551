package app

import (
	"bufio"
	"context"
	"errors"
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
  simpleapi user create --email E [--role admin|user] [--first-name F] [--last-name L]
  simpleapi user list
  simpleapi user set-role --email E --role admin|user
  simpleapi user passwd --email E
  simpleapi user delete --email E

Each works on the user store USER_STORE names, opened as the server opens it
(the same variables, and --data-dir, --user-store, --database-url,
--session-store, --redis-url, --redis-cluster-addrs, --redis-sentinel-addrs,
--redis-sentinel-master, --redis-key-prefix as flags; REDIS_PASSWORD only from
the environment):

  jsonfile  the users of DATA_DIR, which must exist. list only reads it, so it
            works while a server runs; the others refuse while a server holds
            the directory, changing nothing.
  postgres  the users of DATABASE_URL; every command works while servers run,
            but set-role, passwd and delete also end sessions, which with
            SESSION_STORE=jsonfile means holding DATA_DIR as well.

They follow the API's rules: the last admin is never removed or demoted, and a
user's sessions end when deleted, when their role changes, and on a new
password. Passwords are read from standard input, or prompted for on a
terminal; never from a flag. Run "simpleapi user <command> -h" for the flags
of a command.
`

// userSettings are the settings the user commands take as flags: those
// that choose the stores, but for REDIS_PASSWORD (a flag would show it to
// anyone listing processes). The others come from the environment.
var userSettings = []string{"DATA_DIR", "USER_STORE", "DATABASE_URL", "SESSION_STORE", "REDIS_URL",
	"REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_MASTER", "REDIS_KEY_PREFIX"}

// userSubcommands are the synopsis and help of each user command.
var userSubcommands = map[string]commandHelp{
	"create": {"user create --email E [--role admin|user] [--first-name F] [--last-name L]",
		"Creates a user. The password is read from standard input, or prompted for on a\nterminal."},
	"list": {"user list",
		"Lists the users, never their password hashes. With USER_STORE=jsonfile it only\nreads DATA_DIR, so it works while a server runs."},
	"set-role": {"user set-role --email E --role admin|user",
		"Changes a user's role and ends their sessions. The last admin cannot be demoted."},
	"passwd": {"user passwd --email E",
		"Sets a user's password, read from standard input or prompted for on a terminal,\nand ends their sessions."},
	"delete": {"user delete --email E",
		"Deletes a user and their sessions. The last admin cannot be deleted."},
}

// userCommand is one user command's flags; fields a command does
// not take stay nil.
type userCommand struct {
	*commandFlags
	email, role, firstName, lastName *string
}

// newUserCommand declares the flags that sub takes, or returns false for
// an unknown command.
func newUserCommand(sub string) (userCommand, bool) {
	help, ok := userSubcommands[sub]
	if !ok {
		return userCommand{}, false
	}
	c := userCommand{commandFlags: newCommandFlags("user "+sub, help.synopsis, help.about)}
	switch sub {
	case "create":
		c.email = c.string("email", "EMAIL", "the new user's email (required)")
		c.role = c.string("role", "ROLE", "admin or user (the default)")
		c.firstName = c.string("first-name", "NAME", "first name")
		c.lastName = c.string("last-name", "NAME", "last name")
	case "set-role":
		c.email = c.string("email", "EMAIL", "the user's email (required)")
		c.role = c.string("role", "ROLE", "admin or user (required)")
	case "passwd", "delete":
		c.email = c.string("email", "EMAIL", "the user's email (required)")
	}
	c.takeSettings(userSettings...)
	return c, true
}

// check refuses missing and impossible flag values before anything is
// opened or read.
func (c userCommand) check() error {
	if c.email != nil && *c.email == "" {
		return usageError{c.name + ": --email is required"}
	}
	if c.role == nil {
		return nil
	}
	if *c.role == "" && c.name == "user set-role" {
		return usageError{c.name + ": --role is required (admin or user)"}
	}
	if *c.role != "" && !store.Role(*c.role).Valid() {
		return usageError{fmt.Sprintf("%s: invalid role %q: want admin or user", c.name, *c.role)}
	}
	return nil
}

// runUserCommand manages users through the stores the configuration names.
func runUserCommand(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	sub, args, done, err := splitGroup("user", userUsage, args, stdout)
	if done {
		return err
	}
	c, ok := newUserCommand(sub)
	if !ok {
		return usageError{fmt.Sprintf("user: unknown command %q (see simpleapi user -h)", sub)}
	}
	if done, err := c.parse(args, stdout); done {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	cfg, err := c.settings.Load(getenv)
	if err != nil {
		return err
	}
	if sub == "create" || sub == "list" {
		// They end no sessions: leaving the session store closed lets
		// them run beside a server that holds it.
		cfg.SessionStore = ""
	}
	if cfg.SessionStore != config.StoreRedis {
		// Redis's login limits are the server's concern.
		cfg.RedisURL, cfg.RedisClusterAddrs, cfg.RedisSentinelAddrs = "", nil, nil
	}
	// The server creates a missing data directory; a user command must not,
	// or a mistyped path would quietly get a new, empty one.
	if keepsFiles(cfg) {
		if fi, err := os.Stat(cfg.DataDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("data directory %q does not exist or is not a directory (set DATA_DIR or --data-dir)", cfg.DataDir)
		}
	}
	log := newLogger(cfg, stderr)

	if sub == "list" {
		users, err := readUsers(ctx, cfg, log)
		if err != nil {
			return err
		}
		return printUsers(stdout, users)
	}
	accounts, closeStores, err := openAccounts(ctx, cfg, log)
	if errors.Is(err, jsonfile.ErrLocked) {
		return fmt.Errorf("%w; stop the server first (nothing was changed)", err)
	}
	if err != nil {
		return err
	}
	runErr := c.run(ctx, accounts, stdin, stdout, stderr)
	closeErr := closeStores() // reported: closing writes the JSON files
	if runErr != nil {
		return cliError(runErr, cfg, *c.email)
	}
	return closeErr
}

// run does what the command says with accounts.
func (c userCommand) run(ctx context.Context, accounts *auth.Accounts, stdin io.Reader, stdout, stderr io.Writer) error {
	if c.name == "user create" {
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		in := auth.NewUser{Email: *c.email, Password: password}
		if *c.role != "" {
			in.Role = c.role
		}
		if *c.firstName != "" {
			in.FirstName = c.firstName
		}
		if *c.lastName != "" {
			in.LastName = c.lastName
		}
		u, err := accounts.Create(ctx, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s %s (%s)\n", u.ID, u.Email, u.Role)
		return nil
	}
	u, err := accounts.Users.UserByEmail(ctx, *c.email)
	if err != nil {
		return err
	}
	switch c.name {
	case "user set-role":
		admin := store.User{Role: store.RoleAdmin}
		if _, err := accounts.Update(ctx, admin, u.ID, auth.Changes{Role: c.role}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s\n", u.Email, *c.role)
	case "user passwd":
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		// An operator's reset signs the user out everywhere and revokes
		// their access tokens.
		if err := accounts.ResetPassword(ctx, u.ID, password); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed\n", u.Email)
	case "user delete":
		// The same call as DELETE /api/v1/users/:id, so the same rules
		// (never the last admin) and the same audit event.
		if err := accounts.Delete(ctx, u.ID); err != nil {
			return err
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

// cliError words an application error for the terminal: the API's short
// message, with what would have been allowed.
func cliError(err error, cfg config.Config, email string) error {
	switch store.ErrorCode(err) {
	case store.EINTERNAL:
		return err
	case store.ENOTFOUND:
		return fmt.Errorf("no such user: %s", email)
	}
	switch msg := store.ErrorMessage(err); msg {
	case auth.MsgInvalidEmail:
		return fmt.Errorf("invalid email %q: %s", email, wantEmail)
	case auth.MsgPasswordTooShort:
		return fmt.Errorf("%s: at least %d characters (PASSWORD_MIN_LENGTH)", msg, cfg.PasswordMinLength)
	case auth.MsgPasswordTooLong:
		return fmt.Errorf("%s: at most %d characters", msg, auth.MaxPasswordLength)
	case auth.MsgFirstNameTooLong, auth.MsgLastNameTooLong:
		return fmt.Errorf("--%s: at most %d characters", strings.ReplaceAll(msg, "_", "-"), auth.MaxNameLength)
	case auth.MsgFirstNameInvalid, auth.MsgLastNameInvalid:
		return fmt.Errorf("--%s: want text without control characters", strings.ReplaceAll(msg, "_", "-"))
	case store.MsgEmailTaken:
		return fmt.Errorf("%s: %s", msg, email)
	case store.MsgLastAdmin:
		return fmt.Errorf("%s: %s is the only admin; make another user admin first", msg, email)
	default:
		return errors.New(msg)
	}
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
