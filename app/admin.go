package app

import (
	"fmt"

	"simpleapi/auth"
	"simpleapi/config"
)

// wantEmail is what an email address must be (auth.ValidateEmail).
const wantEmail = "want a plausible email address: one @, non-empty parts, at most 254 bytes"

// checkAdmin refuses ADMIN_EMAIL and ADMIN_PASSWORD values that could not
// create the first admin, as configuration errors (exit status 2) before
// anything is opened.
func checkAdmin(cfg config.Config) error {
	if cfg.AdminEmail == "" {
		return nil
	}
	if err := auth.ValidateEmail(cfg.AdminEmail); err != nil {
		return cfg.Invalid("ADMIN_EMAIL", cfg.AdminEmail, wantEmail)
	}
	check := auth.Accounts{PasswordMinLength: cfg.PasswordMinLength}
	if err := check.ValidatePassword(cfg.AdminPassword); err != nil {
		return cfg.Invalid("ADMIN_PASSWORD", config.Redact(cfg.AdminPassword),
			fmt.Sprintf("want %d to %d characters (PASSWORD_MIN_LENGTH)", cfg.PasswordMinLength, auth.MaxPasswordLength))
	}
	return nil
}
