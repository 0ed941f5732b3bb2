package storagetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func environmentCases() []testCase {
	return []testCase{
		{"CreateRoundTripsAtRevisionOne", testEnvironmentRoundTrip},
		{"CreateWithoutVariablesGivesAnEmptyMap", testEnvironmentCreateWithoutVariables},
		{"CreateDuplicateNameReturnsErrConflict", testEnvironmentCreateDuplicate},
		{"GetReturnsErrNotFoundForUnknownName", testEnvironmentGetUnknown},
		{"UpdateReplacesFieldsAndBumpsRevision", testEnvironmentUpdate},
		{"UpdateWithStaleRevisionReturnsErrStaleRevision", testEnvironmentUpdateStale},
		{"UpdateReturnsErrNotFoundForUnknownName", testEnvironmentUpdateUnknown},
		{"DeleteRemovesItAndThenReturnsErrNotFound", testEnvironmentDelete},
		{"DeleteKeepsExecutionsThatNameIt", testEnvironmentDeleteKeepsExecutions},
		{"ListWalksPagesByName", testEnvironmentListWalk},
		{"ListCursorStillWorksAfterItsRowIsDeleted", testEnvironmentListCursorRowDeleted},
		{"ListRejectsMalformedCursors", testEnvironmentListMalformedCursor},
		{"ListAppliesLimits", testEnvironmentListLimits},
	}
}

// createEnvironment creates an environment with one variable.
func createEnvironment(t *testing.T, ctx context.Context, s storage.Store, name string) *storage.Environment {
	t.Helper()
	e, err := s.EnvironmentCreate(ctx, &storage.EnvironmentCreateParams{
		Name: name, Description: "env " + name, Variables: map[string]string{"base_url": "https://" + name + ".example.com"},
	})
	require.NoError(t, err, "create environment %s", name)
	return e
}

func assertEnvironmentEqual(t *testing.T, want, got *storage.Environment) {
	t.Helper()
	assert.Equal(t, want.Name, got.Name, "Name")
	assert.Equal(t, want.Description, got.Description, "Description")
	assert.Equal(t, want.Variables, got.Variables, "Variables")
	assert.Equal(t, want.Revision, got.Revision, "Revision")
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertSameTime(t, want.UpdatedAt, got.UpdatedAt, "UpdatedAt")
}

// listEnvironmentNames returns every environment's name, walking pages of
// limit.
func listEnvironmentNames(t *testing.T, ctx context.Context, s storage.Store, limit int) []string {
	t.Helper()
	envs := walkPages(t, storage.PageLimit(limit), func(cursor string) ([]*storage.Environment, string) {
		page, err := s.EnvironmentList(ctx, &storage.EnvironmentListParams{Limit: limit, Cursor: cursor})
		require.NoError(t, err)
		return page.Environments, page.NextCursor
	})
	names := make([]string, 0, len(envs))
	for _, e := range envs {
		names = append(names, e.Name)
	}
	return names
}

func testEnvironmentRoundTrip(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	vars := map[string]string{"base_url": "https://staging.example.com", "quote": `a "b" \ c`, "unicode": "héllo ✓"}
	e, err := s.EnvironmentCreate(ctx, &storage.EnvironmentCreateParams{Name: "staging", Description: "Staging", Variables: vars})
	require.NoError(t, err)
	assert.Equal(t, "staging", e.Name)
	assert.Equal(t, "Staging", e.Description)
	assert.Equal(t, vars, e.Variables)
	assert.Equal(t, int64(1), e.Revision)
	assertRecent(t, e.CreatedAt, "CreatedAt")
	assertSameTime(t, e.CreatedAt, e.UpdatedAt, "UpdatedAt")

	got, err := s.EnvironmentGetByName(ctx, "staging")
	require.NoError(t, err)
	assertEnvironmentEqual(t, e, got)
}

func testEnvironmentCreateWithoutVariables(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, err := s.EnvironmentCreate(ctx, &storage.EnvironmentCreateParams{Name: "empty"})
	require.NoError(t, err)
	assert.NotNil(t, e.Variables)
	assert.Empty(t, e.Variables)
	got, err := s.EnvironmentGetByName(ctx, "empty")
	require.NoError(t, err)
	assert.NotNil(t, got.Variables)
	assert.Empty(t, got.Variables)
}

func testEnvironmentCreateDuplicate(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	first := createEnvironment(t, ctx, s, "prod")
	_, err := s.EnvironmentCreate(ctx, &storage.EnvironmentCreateParams{Name: "prod", Variables: map[string]string{"x": "y"}})
	require.ErrorIs(t, err, storage.ErrConflict)
	got, err := s.EnvironmentGetByName(ctx, "prod")
	require.NoError(t, err)
	assertEnvironmentEqual(t, first, got)
}

func testEnvironmentGetUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.EnvironmentGetByName(ctx, "nope")
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testEnvironmentUpdate(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	created := createEnvironment(t, ctx, s, "staging")
	vars := map[string]string{"token_name": "t", "other": "v"}
	updated, err := s.EnvironmentUpdate(ctx, &storage.EnvironmentUpdateParams{
		Name: "staging", ExpectedRevision: 1, Description: "changed", Variables: vars,
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), updated.Revision)
	assert.Equal(t, "changed", updated.Description)
	assert.Equal(t, vars, updated.Variables, "variables are replaced, not merged")
	assertSameTime(t, created.CreatedAt, updated.CreatedAt, "CreatedAt")
	assert.False(t, updated.UpdatedAt.Before(created.UpdatedAt), "UpdatedAt moved back")

	got, err := s.EnvironmentGetByName(ctx, "staging")
	require.NoError(t, err)
	assertEnvironmentEqual(t, updated, got)
}

func testEnvironmentUpdateStale(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	created := createEnvironment(t, ctx, s, "staging")
	for _, rev := range []int64{0, 2, -1} {
		_, err := s.EnvironmentUpdate(ctx, &storage.EnvironmentUpdateParams{
			Name: "staging", ExpectedRevision: rev, Variables: map[string]string{"x": "y"},
		})
		require.ErrorIs(t, err, storage.ErrStaleRevision, "expected revision %d", rev)
		require.ErrorIs(t, err, storage.ErrConflict, "expected revision %d", rev)
	}
	got, err := s.EnvironmentGetByName(ctx, "staging")
	require.NoError(t, err)
	assertEnvironmentEqual(t, created, got)
}

func testEnvironmentUpdateUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.EnvironmentUpdate(ctx, &storage.EnvironmentUpdateParams{Name: "nope", ExpectedRevision: 1})
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NotErrorIs(t, err, storage.ErrConflict)
}

func testEnvironmentDelete(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	createEnvironment(t, ctx, s, "gone")
	keep := createEnvironment(t, ctx, s, "kept")
	require.NoError(t, s.EnvironmentDelete(ctx, "gone"))
	_, err := s.EnvironmentGetByName(ctx, "gone")
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.ErrorIs(t, s.EnvironmentDelete(ctx, "gone"), storage.ErrNotFound)
	got, err := s.EnvironmentGetByName(ctx, "kept")
	require.NoError(t, err)
	assertEnvironmentEqual(t, keep, got)
}

func testEnvironmentDeleteKeepsExecutions(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	createEnvironment(t, ctx, s, "staging")
	plan := createPlan(t, ctx, s, "plan")
	e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{
		PlanID: plan.ID, PlanRevision: plan.Revision, Environment: "staging",
	})
	require.NoError(t, err)
	require.NoError(t, s.EnvironmentDelete(ctx, "staging"))
	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assert.Equal(t, "staging", got.Environment)
}

func testEnvironmentListWalk(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	// Created out of order: the listing is by name, byte order.
	for _, name := range []string{"prod", "a-1", "staging", "dev", "a_0", "9"} {
		createEnvironment(t, ctx, s, name)
	}
	want := []string{"9", "a-1", "a_0", "dev", "prod", "staging"}
	for _, limit := range []int{1, 2, 5, 6, 0} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			assert.Equal(t, want, listEnvironmentNames(t, ctx, s, limit))
		})
	}
	page, err := s.EnvironmentList(ctx, &storage.EnvironmentListParams{})
	require.NoError(t, err)
	require.Len(t, page.Environments, 6)
	assert.Equal(t, "https://9.example.com", page.Environments[0].Variables["base_url"])
}

func testEnvironmentListCursorRowDeleted(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for _, name := range []string{"a", "b", "c", "d"} {
		createEnvironment(t, ctx, s, name)
	}
	page, err := s.EnvironmentList(ctx, &storage.EnvironmentListParams{Limit: 2})
	require.NoError(t, err)
	require.NotEmpty(t, page.NextCursor)
	require.NoError(t, s.EnvironmentDelete(ctx, "b"))
	rest, err := s.EnvironmentList(ctx, &storage.EnvironmentListParams{Limit: 2, Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Len(t, rest.Environments, 2)
	assert.Equal(t, "c", rest.Environments[0].Name)
	assert.Equal(t, "d", rest.Environments[1].Name)
	assert.Empty(t, rest.NextCursor)
}

func testEnvironmentListMalformedCursor(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	createEnvironment(t, ctx, s, "env")
	cursors := malformedCursors(storage.ListEnvironments)
	cursors["NULInName"] = storage.EncodeCursor(storage.Cursor{List: storage.ListEnvironments, ID: "a\x00"})
	for name, cursor := range cursors {
		t.Run(name, func(t *testing.T) {
			_, err := s.EnvironmentList(ctx, &storage.EnvironmentListParams{Cursor: cursor})
			require.ErrorIs(t, err, storage.ErrInvalidInput, "cursor %q", cursor)
		})
	}
}

func testEnvironmentListLimits(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const total = storage.MaxPageLimit + 3
	err := s.InTx(ctx, func(tx storage.Store) error {
		for i := range total {
			if _, err := tx.EnvironmentCreate(ctx, &storage.EnvironmentCreateParams{Name: fmt.Sprintf("env-%03d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	page, err := s.EnvironmentList(ctx, &storage.EnvironmentListParams{Limit: 0})
	require.NoError(t, err)
	assert.Len(t, page.Environments, storage.DefaultPageLimit, "limit 0 means the default")
	page, err = s.EnvironmentList(ctx, &storage.EnvironmentListParams{Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, page.Environments, storage.MaxPageLimit, "limit is capped")
	rest, err := s.EnvironmentList(ctx, &storage.EnvironmentListParams{Limit: 1000, Cursor: page.NextCursor})
	require.NoError(t, err)
	assert.Len(t, rest.Environments, total-storage.MaxPageLimit)
	assert.Empty(t, rest.NextCursor)
}
