// Package migration runs the storage adapters' goose migrations in one of
// three directions and reports what it did, one line per migration.
package migration

import (
	"context"
	"fmt"

	"github.com/pressly/goose/v3"
)

// Direction says which way Run moves.
type Direction string

// The directions.
const (
	// Up applies every pending migration.
	Up Direction = "up"
	// Down rolls back the latest applied migration.
	Down Direction = "down"
	// Status lists every migration and whether it is applied.
	Status Direction = "status"
)

// Run moves p in direction dir and returns one line per migration applied,
// rolled back or listed.
func Run(ctx context.Context, p *goose.Provider, dir Direction) ([]string, error) {
	var out []string
	switch dir {
	case Up:
		res, err := p.Up(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate up: %w", err)
		}
		for _, r := range res {
			out = append(out, r.String())
		}
	case Down:
		r, err := p.Down(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate down: %w", err)
		}
		if r != nil {
			out = append(out, r.String())
		}
	case Status:
		st, err := p.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("migration status: %w", err)
		}
		for _, m := range st {
			out = append(out, fmt.Sprintf("%-9s %s", m.State, m.Source.Path))
		}
	default:
		return nil, fmt.Errorf("unknown migration direction %q: want up, down or status", dir)
	}
	return out, nil
}
