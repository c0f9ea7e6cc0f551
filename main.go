// Command simpleapi is the Simple API authentication service. Everything
// it does is in package app; main only supplies the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"simpleapi/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
