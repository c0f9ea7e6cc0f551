package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"simpleapi/store"
	"simpleapi/store/jsonfile"
	"simpleapi/store/postgres"
)

const migrateUsage = `Usage:
  simpleapi migrate status                      list the schema migrations and which are applied
  simpleapi migrate up                          apply the pending migrations
  simpleapi migrate import-json --data-dir DIR  copy the users of DIR/.db_User.json into PostgreSQL

Each works on the database of DATABASE_URL (or --database-url). The server
applies pending migrations itself when it starts; "up" is for doing it
beforehand. Run "simpleapi migrate <command> -h" for the flags of a command.

import-json reads DIR through the JSON-file store, so no server may be using
it. Passwords (argon2id or the old service's SHA-256), roles, names and
timestamps are copied as they are, in the file's order. A user whose id is
already in the database is left as it is, so running it twice changes
nothing; a user whose email another user already has is skipped and named.
The users' access tokens (DIR/.db_AccessToken.json, hashes only) are copied
with them, alike; those of a skipped user are not.
`

// migrateSubcommands are the synopsis and help of each migrate command.
var migrateSubcommands = map[string]commandHelp{
	"status": {"migrate status [--database-url URL]",
		"Lists the schema migrations and which are applied."},
	"up": {"migrate up [--database-url URL]",
		"Applies the pending migrations (the server also does when it starts)."},
	"import-json": {"migrate import-json --data-dir DIR [--database-url URL]",
		"Copies the users of DIR/.db_User.json into PostgreSQL; no server may be using DIR.\n" +
			"Running it twice changes nothing. See simpleapi migrate -h."},
}

// migrateCommand manages the PostgreSQL schema and imports users into it.
func migrateCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	sub, args, done, err := splitGroup("migrate", migrateUsage, args, stdout)
	if done {
		return err
	}
	help, ok := migrateSubcommands[sub]
	if !ok {
		return usageError{fmt.Sprintf("migrate: unknown command %q (see simpleapi migrate -h)", sub)}
	}
	f := newCommandFlags("migrate "+sub, help.synopsis, help.about)
	var dataDir *string
	if sub == "import-json" {
		dataDir = f.string("data-dir", "DIR", "data directory holding .db_User.json (required)")
	}
	f.takeSettings("DATABASE_URL")
	if done, err := f.parse(args, stdout); done {
		return err
	}
	if dataDir != nil && *dataDir == "" {
		return usageError{"migrate import-json: --data-dir is required"}
	}
	// The server's rule for the setting, whichever way it came; the other
	// settings are not migrate's concern.
	cfg, err := f.settings.LoadOnly(getenv)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return usageError{fmt.Sprintf("migrate %s: DATABASE_URL (or --database-url) is required", sub)}
	}

	if sub == "import-json" {
		return importJSON(ctx, *dataDir, cfg.DatabaseURL, stdout)
	}
	db, err := postgres.Connect(ctx, cfg.DatabaseURL, postgres.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "up" {
		if err := postgres.Migrate(ctx, db.Pool()); err != nil {
			return err
		}
	}
	return printMigrations(ctx, db, stdout)
}

func printMigrations(ctx context.Context, db *postgres.DB, stdout io.Writer) error {
	list, err := postgres.MigrationStatus(ctx, db.Pool())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE\tAPPLIED_AT")
	for _, m := range list {
		state, at := "pending", ""
		if m.Applied {
			state, at = "applied", m.AppliedAt.Format("2006-01-02T15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.Version, m.Name, state, at)
	}
	return tw.Flush()
}

// importJSON copies the users of dir's users file, and their access
// tokens, into the database, applying the migrations first.
func importJSON(ctx context.Context, dir, databaseURL string, stdout io.Writer) error {
	// jsonfile.Open creates a missing directory; an import from a
	// mistyped one must fail instead.
	if _, err := os.Stat(filepath.Join(dir, ".db_User.json")); err != nil {
		return fmt.Errorf("migrate import-json: %w", err)
	}
	src, err := jsonfile.Open(dir, jsonfile.Options{QuietCompactAfter: -1})
	if errors.Is(err, jsonfile.ErrLocked) {
		return fmt.Errorf("%w; stop the server first (nothing was imported)", err)
	}
	if err != nil {
		return err
	}
	users, err := src.Users().ListUsers(ctx)
	var tokens []store.AccessToken
	for _, u := range users {
		if err != nil {
			break
		}
		var list []store.AccessToken
		list, err = src.AccessTokens().ListAccessTokens(ctx, u.ID)
		tokens = append(tokens, list...)
	}
	if cerr := src.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	db, err := postgres.Open(ctx, databaseURL, postgres.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Users().ImportUsers(ctx, users)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d users, %d already present, %d skipped\n", res.Added, res.Existing, len(res.Skipped))
	for _, id := range res.Skipped {
		fmt.Fprintf(stdout, "skipped %s: its email belongs to another user\n", id)
	}
	if len(tokens) == 0 {
		return nil
	}
	// The users' access tokens go with them (those of a skipped user stay
	// behind).
	res, err = db.AccessTokens().ImportAccessTokens(ctx, tokens)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d access tokens, %d already present, %d skipped (their user was not imported)\n",
		res.Added, res.Existing, len(res.Skipped))
	return nil
}
