package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// migrate applies (up), rolls back (down) or lists (status) the schema
// migrations of the configured backend, and prints what it did.
func migrate(ctx context.Context, cfg *config.Config, direction string, out io.Writer) error {
	if cfg.Backend == config.BackendMemory {
		return errors.New("STORAGE_BACKEND=memory keeps nothing to migrate; set STORAGE_BACKEND to sqlite or postgres")
	}
	store, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer store.Close()
	var lines []string
	switch s := store.(type) {
	case *pgstore.Store:
		lines, err = s.Migrate(ctx, pgstore.MigrateDirection(direction))
	case *sqlitestore.Store:
		lines, err = s.Migrate(ctx, sqlitestore.MigrateDirection(direction))
	}
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	if len(lines) == 0 {
		fmt.Fprintln(out, "nothing to do")
	}
	return nil
}
