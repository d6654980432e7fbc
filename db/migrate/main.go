// Command migrate applies the schema in db/migrations to DATABASE_URL:
//
//	DATABASE_URL=postgres://user:pass@host:5432/payments make migrate
//
// It is safe to run repeatedly and from several places at once.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"handler/function/db"
)

func main() {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		fmt.Fprintln(os.Stderr, "migrate: set DATABASE_URL")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	applied, err := db.Migrate(ctx, url)
	for _, name := range applied {
		fmt.Println("applied", name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
	if len(applied) == 0 {
		fmt.Println("schema is up to date")
	}
}
