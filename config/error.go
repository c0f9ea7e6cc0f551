package config

import "fmt"

// Error is a configuration value that is not allowed. Its message is one
// line naming where the value came from, the value and what would have
// been accepted: the variable, e.g. `API_PORT="70000" is not allowed: want
// a port number 1-65535`, or the flag the user typed, e.g. `invalid value
// "abc" for --api-port: want a port number 1-65535`.
type Error struct {
	Var     string // environment variable, e.g. API_PORT
	Flag    string // the flag that gave Value, e.g. --api-port; "" when it came from the environment
	Value   string // the value as given; for secrets only a redacted description
	Allowed string // what would have been accepted
}

func (e *Error) Error() string {
	// %q keeps the message on one line whatever the value contains.
	if e.Flag != "" {
		return fmt.Sprintf("invalid value %q for %s: %s", e.Value, e.Flag, e.Allowed)
	}
	return fmt.Sprintf("%s=%q is not allowed: %s", e.Var, e.Value, e.Allowed)
}

// Invalid is the *Error for value of the setting name, naming its flag
// when a flag gave the value. Commands use it for what they find wrong
// after loading (a certificate that does not load), so that the person is
// told about what they typed.
func (c Config) Invalid(name, value, allowed string) *Error {
	e := &Error{Var: name, Value: value, Allowed: allowed}
	if c.fromFlag[name] {
		e.Flag = "--" + flagName(name)
	}
	return e
}

// markFlag records that a flag gave the setting name.
func (c *Config) markFlag(name string) {
	if c.fromFlag == nil {
		c.fromFlag = map[string]bool{}
	}
	c.fromFlag[name] = true
}

// Redact is how a secret value is shown in an error: its length only.
func Redact(v string) string {
	return fmt.Sprintf("<redacted, %d bytes>", len(v))
}
