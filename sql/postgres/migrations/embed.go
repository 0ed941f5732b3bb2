// Package migrations embeds astro-runner's goose migrations for Postgres.
package migrations

import "embed"

// FS holds the migration files, named 00001_*.sql and up.
//
//go:embed *.sql
var FS embed.FS
