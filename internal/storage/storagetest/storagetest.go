// Package storagetest is the conformance suite that every storage.Store
// backend must pass. Each backend's test file calls Run with a factory of
// fresh stores:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store {
//			s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{...})
//			require.NoError(t, err)
//			t.Cleanup(func() { _ = s.Close() })
//			return s
//		})
//	}
//
// Besides the doc comments of package storage, the suite pins down these
// behaviours, the same for every listing (plans, executions and jobs):
//
//   - A page never holds more rows than its limit. A limit of zero or less
//     means storage.DefaultPageLimit; a larger one is capped at
//     storage.MaxPageLimit.
//   - NextCursor is empty exactly when no row follows the page, so a page
//     that ends on the last row, even a full one, has no NextCursor.
//   - A cursor names a position, not a row: it still works after its row
//     is deleted, and a cursor past the last row gives an empty page.
//   - A cursor that the listing did not issue, including a valid cursor of
//     another listing, gives storage.ErrInvalidInput.
//
// Tests of leases use leases of tinyLease and wait for them to expire by
// polling JobRescue; they never assert how long anything took.
package storagetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

const (
	// hangGuard bounds every case, so that a deadlock fails the case
	// instead of the whole test binary. It is not a performance bound.
	hangGuard = 2 * time.Minute
	// tinyLease is the lease of claims that a test lets expire.
	tinyLease = 50 * time.Millisecond
	// longLease is the lease of claims that must not expire during a test.
	longLease = time.Hour
	// expiryGuard bounds the wait for a tiny lease to expire by the
	// database's clock.
	expiryGuard = 30 * time.Second
	// recent bounds how far from the test's clock a timestamp that the
	// store just set may be; it catches unit mistakes, not slowness.
	recent = time.Hour
)

// testCase is one behaviour, run against its own fresh store.
type testCase struct {
	name string
	run  func(t *testing.T, s storage.Store)
}

// Run runs the whole suite. newStore must return a fresh, migrated, empty
// store and register its own clean-up; every case calls it once and runs
// in parallel with the others.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Plan", planCases()},
		{"Execution", executionCases()},
		{"Job", jobCases()},
		{"Environment", environmentCases()},
		{"Tx", txCases()},
		{"Store", storeCases()},
		{"Limits", limitCases()},
		{"Secret", secretCases()},
		{"Retention", retentionCases()},
		{"Schedule", scheduleCases()},
		{"Alert", alertCases()},
		{"Stats", statsCases()},
		{"Overview", overviewCases()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newStore(t))
				})
			}
		})
	}
}

func storeCases() []testCase {
	return []testCase{
		{"PingSucceedsOnAnOpenStore", func(t *testing.T, s storage.Store) {
			require.NoError(t, s.Ping(testContext(t)))
		}},
	}
}

// testContext returns the test's context, bounded by hangGuard.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// assertRecent checks that a timestamp the store just set is near the
// test's clock.
func assertRecent(t *testing.T, ts time.Time, what string) {
	t.Helper()
	assert.False(t, ts.IsZero(), "%s is not set", what)
	assert.WithinDuration(t, time.Now(), ts, recent, "%s is far from now: wrong unit?", what)
}

// assertSameTime checks that two timestamps are the same instant.
func assertSameTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	assert.True(t, want.Equal(got), "%s: want %s, got %s", what, want, got)
}

// assertJSONEq compares JSON documents semantically, since jsonb reorders
// keys and drops white space.
func assertJSONEq(t *testing.T, want string, got json.RawMessage, what string) {
	t.Helper()
	if assert.NotEmpty(t, got, "%s is empty", what) {
		assert.JSONEq(t, want, string(got), what)
	}
}

// walkPages follows NextCursor from the first page to the last, checks the
// listing contract on every page and returns the rows in order. list
// returns one page for a cursor.
func walkPages[T any](t *testing.T, limit int, list func(cursor string) ([]T, string)) []T {
	t.Helper()
	var all []T
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10_000, "pagination does not end")
		rows, next := list(cursor)
		require.LessOrEqual(t, len(rows), limit, "page longer than its limit")
		if len(rows) < limit {
			require.Empty(t, next, "a short page must be the last one")
		}
		if len(rows) == 0 {
			require.Empty(t, next, "an empty page must be the last one")
		}
		all = append(all, rows...)
		if next == "" {
			return all
		}
		require.NotEqual(t, cursor, next, "NextCursor does not move")
		cursor = next
	}
}

// malformedCursors returns cursors that the named listing does not issue,
// by description, including valid cursors of every other listing.
func malformedCursors(list string) map[string]string {
	m := map[string]string{
		"NotBase64":         "!!!",
		"Base64OfJunk":      b64("junk"),
		"Base64OfEmptyJSON": b64("{}"),
		"UnknownField":      b64(`{"x":1}`),
		"TrailingData":      b64(`{"s":1}{"s":2}`),
		"UUIDThatIsNotUUID": b64(`{"i":"not-a-uuid"}`),
		"NegativeSeq":       b64(`{"s":-1}`),
		"TooLong":           b64(`{"i":"` + strings.Repeat("a", 300) + `"}`),
		"WithoutListing":    b64(`{"i":"0192f3a4-5b6c-7d8e-9f01-23456789abcd"}`),
	}
	for _, other := range []string{
		storage.ListPlans, storage.ListExecutions, storage.ListJobs, storage.ListEnvironments, storage.ListSchedules,
		storage.ListChannels, storage.ListAlertRules, storage.ListAlertDeliveries, storage.ListOverview,
	} {
		if other != list {
			m["CursorOf_"+other] = cursorOf(other)
		}
	}
	return m
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// cursorOf returns a valid cursor of the named listing.
func cursorOf(list string) string {
	if list == storage.ListJobs {
		return storage.EncodeCursor(storage.Cursor{List: list, Seq: 1})
	}
	return storage.EncodeCursor(storage.Cursor{List: list, ID: uuid.Must(uuid.NewV7()).String()})
}
