package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func planCases() []testCase {
	return []testCase{
		{"CreateThenGetRoundTripsEveryField", testPlanRoundTrip},
		{"CreateKeepsAGivenID", testPlanCreateKeepsID},
		{"CreateWithoutLabelsGivesNoLabels", testPlanCreateWithoutLabels},
		{"CreateReturnsErrConflictForDuplicateName", testPlanCreateDuplicateName},
		{"CreateReturnsErrConflictForDuplicateID", testPlanCreateDuplicateID},
		{"GetReturnsErrNotFoundForUnknownID", testPlanGetUnknown},
		{"UpdateReturnsErrNotFoundForUnknownID", testPlanUpdateUnknown},
		{"DeleteReturnsErrNotFoundForUnknownID", testPlanDeleteUnknown},
		{"UpdateBumpsRevisionAndReplacesFields", testPlanUpdate},
		{"UpdateKeepingItsNameSucceeds", testPlanUpdateSameName},
		{"UpdateWithStaleRevisionReturnsErrStaleRevision", testPlanUpdateStale},
		{"UpdateToATakenNameReturnsErrConflict", testPlanUpdateTakenName},
		{"ConcurrentUpdatesOfOneRevisionLetExactlyOneWin", testPlanConcurrentUpdates},
		{"DeleteThenGetReturnsErrNotFound", testPlanDelete},
		{"DeleteReturnsErrReferencedWhileExecutionsExist", testPlanDeleteReferenced},
		{"ListOnEmptyStoreReturnsAnEmptyLastPage", testPlanListEmpty},
		{"ListNamePrefixMatchesLiterally", testPlanListNamePrefix},
		{"ListLabelsMatchWithAndSemantics", testPlanListLabels},
		{"ListLabelKeysWithQuotesAndDotsMatchLiterally", testPlanListLabelQuoting},
		{"ListCombinesNamePrefixAndLabels", testPlanListPrefixAndLabels},
		{"ListWalksPagesInIDOrder", testPlanListWalk},
		{"ListFullLastPageHasNoNextCursor", testPlanListFullLastPage},
		{"ListContinuesAfterTheCursorRowIsDeleted", testPlanListCursorRowDeleted},
		{"ListCursorPastTheLastRowGivesAnEmptyPage", testPlanListCursorPastEnd},
		{"ListRejectsMalformedCursors", testPlanListMalformedCursor},
		{"ListDefaultsAndCapsTheLimit", testPlanListLimits},
		{"ListIsStableUnderConcurrentInserts", testPlanListConcurrentInserts},
	}
}

// planParams returns valid parameters for a plan named name.
func planParams(name string) *storage.PlanCreateParams {
	doc, err := json.Marshal(map[string]any{"version": 1, "name": name, "steps": []any{}})
	if err != nil {
		panic(err)
	}
	return &storage.PlanCreateParams{
		Name:        name,
		Description: "Plan " + name,
		Labels:      map[string]string{"team": "core"},
		Document:    doc,
	}
}

// createPlan creates a plan named name with valid fields.
func createPlan(t *testing.T, ctx context.Context, s storage.Store, name string) *storage.Plan {
	t.Helper()
	p, err := s.PlanCreate(ctx, planParams(name))
	require.NoError(t, err, "create plan %q", name)
	return p
}

// createPlanWith creates a plan with the given ID and labels.
func createPlanWith(t *testing.T, ctx context.Context, s storage.Store, id uuid.UUID, name string, labels map[string]string) *storage.Plan {
	t.Helper()
	params := planParams(name)
	params.ID = id
	params.Labels = labels
	p, err := s.PlanCreate(ctx, params)
	require.NoError(t, err, "create plan %q", name)
	return p
}

func assertPlanEqual(t *testing.T, want, got *storage.Plan) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID, "ID")
	assert.Equal(t, want.Name, got.Name, "Name")
	assert.Equal(t, want.Description, got.Description, "Description")
	assert.Equal(t, want.Labels, got.Labels, "Labels")
	assertJSONEq(t, string(want.Document), got.Document, "Document")
	assert.Equal(t, want.Revision, got.Revision, "Revision")
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertSameTime(t, want.UpdatedAt, got.UpdatedAt, "UpdatedAt")
}

// listPlanIDs returns the IDs of every plan that p selects, walking all
// pages of limit rows.
func listPlanIDs(t *testing.T, ctx context.Context, s storage.Store, p storage.PlanListParams) []uuid.UUID {
	t.Helper()
	plans := walkPages(t, storage.PageLimit(p.Limit), func(cursor string) ([]*storage.Plan, string) {
		q := p
		q.Cursor = cursor
		page, err := s.PlanList(ctx, &q)
		require.NoError(t, err)
		return page.Plans, page.NextCursor
	})
	return planIDs(plans)
}

func planIDs(plans []*storage.Plan) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(plans))
	for _, p := range plans {
		ids = append(ids, p.ID)
	}
	return ids
}

func testPlanRoundTrip(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	params := &storage.PlanCreateParams{
		Name:        "checkout-smoke",
		Description: "Smoke test of the checkout flow, with \"quotes\" and ünïcode",
		Labels: map[string]string{
			"team":                   "payments",
			"app.kubernetes.io/name": "checkout",
			"empty":                  "",
		},
		Document: json.RawMessage(`{
			"version": 1,
			"steps": [{"name": "login", "request": {"method": "POST", "url": "https://example.test/login"}}],
			"vars": {"zeta": 2, "alpha": "ü", "nothing": null, "list": [3, 1, 2]}
		}`),
	}
	created, err := s.PlanCreate(ctx, params)
	require.NoError(t, err)

	assert.NotEqual(t, uuid.Nil, created.ID)
	assert.Equal(t, uuid.Version(7), created.ID.Version(), "default IDs are UUIDv7")
	assert.Equal(t, params.Name, created.Name)
	assert.Equal(t, params.Description, created.Description)
	assert.Equal(t, params.Labels, created.Labels)
	assertJSONEq(t, string(params.Document), created.Document, "Document")
	assert.Equal(t, int64(1), created.Revision)
	assertRecent(t, created.CreatedAt, "CreatedAt")
	assertRecent(t, created.UpdatedAt, "UpdatedAt")
	assert.False(t, created.UpdatedAt.Before(created.CreatedAt), "UpdatedAt before CreatedAt")

	got, err := s.PlanGetByID(ctx, created.ID)
	require.NoError(t, err)
	assertPlanEqual(t, created, got)
}

func testPlanCreateKeepsID(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	id := uuid.Must(uuid.NewV7())
	created := createPlanWith(t, ctx, s, id, "given-id", nil)
	assert.Equal(t, id, created.ID)
	got, err := s.PlanGetByID(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "given-id", got.Name)
}

func testPlanCreateWithoutLabels(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	created := createPlanWith(t, ctx, s, uuid.Nil, "no-labels", nil)
	assert.Empty(t, created.Labels)
	got, err := s.PlanGetByID(ctx, created.ID)
	require.NoError(t, err)
	assert.Empty(t, got.Labels)

	// A plan without labels matches an empty label filter only.
	ids := listPlanIDs(t, ctx, s, storage.PlanListParams{})
	assert.Equal(t, []uuid.UUID{created.ID}, ids)
	ids = listPlanIDs(t, ctx, s, storage.PlanListParams{Labels: map[string]string{"team": "core"}})
	assert.Empty(t, ids)
}

func testPlanCreateDuplicateName(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	first := createPlan(t, ctx, s, "dup")
	params := planParams("dup")
	params.Description = "second"
	_, err := s.PlanCreate(ctx, params)
	require.ErrorIs(t, err, storage.ErrConflict)

	got, err := s.PlanGetByID(ctx, first.ID)
	require.NoError(t, err)
	assertPlanEqual(t, first, got)
	assert.Len(t, listPlanIDs(t, ctx, s, storage.PlanListParams{}), 1)
}

func testPlanCreateDuplicateID(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	first := createPlan(t, ctx, s, "first")
	params := planParams("second")
	params.ID = first.ID
	_, err := s.PlanCreate(ctx, params)
	require.ErrorIs(t, err, storage.ErrConflict)

	got, err := s.PlanGetByID(ctx, first.ID)
	require.NoError(t, err)
	assert.Equal(t, "first", got.Name)
}

func testPlanGetUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	createPlan(t, ctx, s, "other")
	_, err := s.PlanGetByID(ctx, uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.PlanGetByID(ctx, uuid.Nil)
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testPlanUpdateUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.PlanUpdate(ctx, &storage.PlanUpdateParams{
		ID:               uuid.Must(uuid.NewV7()),
		ExpectedRevision: 1,
		Name:             "ghost",
		Labels:           map[string]string{},
		Document:         json.RawMessage(`{}`),
	})
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NotErrorIs(t, err, storage.ErrConflict)
}

func testPlanDeleteUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	err := s.PlanDelete(ctx, uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testPlanUpdate(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	created := createPlan(t, ctx, s, "before")

	upd := &storage.PlanUpdateParams{
		ID:               created.ID,
		ExpectedRevision: 1,
		Name:             "after",
		Description:      "new description",
		Labels:           map[string]string{"env": "prod"},
		Document:         json.RawMessage(`{"version":1,"steps":[{"name":"new"}]}`),
	}
	updated, err := s.PlanUpdate(ctx, upd)
	require.NoError(t, err)
	assert.Equal(t, created.ID, updated.ID)
	assert.Equal(t, int64(2), updated.Revision)
	assert.Equal(t, "after", updated.Name)
	assert.Equal(t, "new description", updated.Description)
	assert.Equal(t, map[string]string{"env": "prod"}, updated.Labels, "labels are replaced, not merged")
	assertJSONEq(t, string(upd.Document), updated.Document, "Document")
	assertSameTime(t, created.CreatedAt, updated.CreatedAt, "CreatedAt")
	assert.False(t, updated.UpdatedAt.Before(created.UpdatedAt), "UpdatedAt went back")

	got, err := s.PlanGetByID(ctx, created.ID)
	require.NoError(t, err)
	assertPlanEqual(t, updated, got)

	// The old name is free again.
	createPlan(t, ctx, s, "before")

	upd.ExpectedRevision = 2
	upd.Description = "third"
	third, err := s.PlanUpdate(ctx, upd)
	require.NoError(t, err)
	assert.Equal(t, int64(3), third.Revision)
	assert.Equal(t, "third", third.Description)
}

func testPlanUpdateSameName(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	created := createPlan(t, ctx, s, "same")
	updated, err := s.PlanUpdate(ctx, &storage.PlanUpdateParams{
		ID:               created.ID,
		ExpectedRevision: created.Revision,
		Name:             created.Name,
		Description:      "changed",
		Labels:           created.Labels,
		Document:         created.Document,
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), updated.Revision)
	assert.Equal(t, "changed", updated.Description)
}

func testPlanUpdateStale(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	created := createPlan(t, ctx, s, "stale")
	for _, rev := range []int64{0, 2, -1} {
		_, err := s.PlanUpdate(ctx, &storage.PlanUpdateParams{
			ID:               created.ID,
			ExpectedRevision: rev,
			Name:             "renamed",
			Description:      "changed",
			Labels:           map[string]string{},
			Document:         json.RawMessage(`{"changed":true}`),
		})
		require.ErrorIs(t, err, storage.ErrStaleRevision, "expected revision %d", rev)
		require.ErrorIs(t, err, storage.ErrConflict, "expected revision %d", rev)
	}
	got, err := s.PlanGetByID(ctx, created.ID)
	require.NoError(t, err)
	assertPlanEqual(t, created, got)
}

func testPlanUpdateTakenName(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	createPlan(t, ctx, s, "taken")
	mine := createPlan(t, ctx, s, "mine")
	_, err := s.PlanUpdate(ctx, &storage.PlanUpdateParams{
		ID:               mine.ID,
		ExpectedRevision: mine.Revision,
		Name:             "taken",
		Description:      "changed",
		Labels:           mine.Labels,
		Document:         mine.Document,
	})
	require.ErrorIs(t, err, storage.ErrConflict)
	assert.NotErrorIs(t, err, storage.ErrStaleRevision, "the revision was current")

	got, err := s.PlanGetByID(ctx, mine.ID)
	require.NoError(t, err)
	assertPlanEqual(t, mine, got)
}

func testPlanConcurrentUpdates(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	created := createPlan(t, ctx, s, "contended")
	const writers = 8
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.PlanUpdate(ctx, &storage.PlanUpdateParams{
				ID:               created.ID,
				ExpectedRevision: 1,
				Name:             "contended",
				Description:      fmt.Sprintf("writer %d", i),
				Labels:           created.Labels,
				Document:         created.Document,
			})
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		if err == nil {
			assert.Equal(t, -1, winner, "writers %d and %d both won", winner, i)
			winner = i
			continue
		}
		assert.ErrorIs(t, err, storage.ErrStaleRevision, "writer %d", i)
	}
	require.NotEqual(t, -1, winner, "no writer won")

	got, err := s.PlanGetByID(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Revision)
	assert.Equal(t, fmt.Sprintf("writer %d", winner), got.Description)
}

func testPlanDelete(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	doomed := createPlan(t, ctx, s, "doomed")
	kept := createPlan(t, ctx, s, "kept")
	require.NoError(t, s.PlanDelete(ctx, doomed.ID))

	_, err := s.PlanGetByID(ctx, doomed.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.ErrorIs(t, s.PlanDelete(ctx, doomed.ID), storage.ErrNotFound, "second delete")
	_, err = s.PlanGetByID(ctx, kept.ID)
	require.NoError(t, err, "deleting one plan deleted another")

	// The name is free again.
	createPlan(t, ctx, s, "doomed")
}

func testPlanDeleteReferenced(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "referenced")
	other := createPlan(t, ctx, s, "other")
	e1 := createExecution(t, ctx, s, p, "")
	createExecution(t, ctx, s, p, "key")
	eOther := createExecution(t, ctx, s, other, "")

	err := s.PlanDelete(ctx, p.ID)
	require.ErrorIs(t, err, storage.ErrReferenced)
	require.ErrorIs(t, err, storage.ErrConflict)
	got, err := s.PlanGetByID(ctx, p.ID)
	require.NoError(t, err, "the plan must survive a refused delete")
	assertPlanEqual(t, p, got)

	n, err := s.ExecutionDeleteByPlanID(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	_, err = s.ExecutionGetByID(ctx, e1.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.ExecutionGetByID(ctx, eOther.ID)
	require.NoError(t, err, "another plan's execution was deleted")

	require.NoError(t, s.PlanDelete(ctx, p.ID))
	_, err = s.PlanGetByID(ctx, p.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testPlanListEmpty(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	page, err := s.PlanList(ctx, &storage.PlanListParams{})
	require.NoError(t, err)
	require.NotNil(t, page)
	assert.Empty(t, page.Plans)
	assert.Empty(t, page.NextCursor)
}

func testPlanListNamePrefix(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	names := []string{"a%b", "a_b", "axb", "a'b", `a\b`, "ab", "Ab", "éclair", `a"b`}
	byName := map[string]uuid.UUID{}
	for _, n := range names {
		byName[n] = createPlan(t, ctx, s, n).ID
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"a%", []string{"a%b"}},
		{"a_", []string{"a_b"}},
		{"a'", []string{"a'b"}},
		{`a\`, []string{`a\b`}},
		{`a"`, []string{`a"b`}},
		{"a", []string{"a%b", "a_b", "axb", "a'b", `a\b`, "ab", `a"b`}},
		{"A", []string{"Ab"}},
		{"é", []string{"éclair"}},
		{"%", nil},
		{"_", nil},
		{"axbc", nil},
		{"", names},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("Prefix%q", tt.prefix), func(t *testing.T) {
			got := listPlanIDs(t, ctx, s, storage.PlanListParams{NamePrefix: tt.prefix})
			want := []uuid.UUID{}
			for _, n := range tt.want {
				want = append(want, byName[n])
			}
			assert.ElementsMatch(t, want, got)
		})
	}
}

func testPlanListLabels(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	prodCore := createPlanWith(t, ctx, s, uuid.Nil, "prod-core", map[string]string{"env": "prod", "team": "core"}).ID
	prodEdge := createPlanWith(t, ctx, s, uuid.Nil, "prod-edge", map[string]string{"env": "prod", "team": "edge"}).ID
	devCore := createPlanWith(t, ctx, s, uuid.Nil, "dev-core", map[string]string{"env": "dev", "team": "core"}).ID
	bare := createPlanWith(t, ctx, s, uuid.Nil, "bare", map[string]string{}).ID
	emptyEnv := createPlanWith(t, ctx, s, uuid.Nil, "empty-env", map[string]string{"env": ""}).ID

	tests := []struct {
		name   string
		labels map[string]string
		want   []uuid.UUID
	}{
		{"None", nil, []uuid.UUID{prodCore, prodEdge, devCore, bare, emptyEnv}},
		{"Empty", map[string]string{}, []uuid.UUID{prodCore, prodEdge, devCore, bare, emptyEnv}},
		{"OneLabel", map[string]string{"env": "prod"}, []uuid.UUID{prodCore, prodEdge}},
		{"OtherLabel", map[string]string{"team": "core"}, []uuid.UUID{prodCore, devCore}},
		{"TwoLabelsAreAnded", map[string]string{"env": "prod", "team": "core"}, []uuid.UUID{prodCore}},
		{"TwoLabelsNoneHasBoth", map[string]string{"env": "dev", "team": "edge"}, nil},
		{"UnknownValue", map[string]string{"env": "staging"}, nil},
		{"UnknownKey", map[string]string{"region": "eu"}, nil},
		{"EmptyValueIsAValue", map[string]string{"env": ""}, []uuid.UUID{emptyEnv}},
		{"ValueIsNotAPrefix", map[string]string{"env": "pro"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listPlanIDs(t, ctx, s, storage.PlanListParams{Labels: tt.labels})
			if tt.want == nil {
				tt.want = []uuid.UUID{}
			}
			assert.ElementsMatch(t, tt.want, got)
		})
	}
}

func testPlanListLabelQuoting(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	tricky := createPlanWith(t, ctx, s, uuid.Nil, "tricky", map[string]string{
		"app.kubernetes.io/name": "checkout",
		"a.b":                    "dot",
		`it's`:                   `say "hi"`,
		`a"b`:                    "quote",
		`back\slash`:             `C:\temp`,
		"$.x":                    "dollar",
		"[0]":                    "bracket",
	}).ID
	plain := createPlanWith(t, ctx, s, uuid.Nil, "plain", map[string]string{
		"app": "checkout",
		"a":   "b",
		`a"b`: "other",
	}).ID

	tests := []struct {
		name   string
		labels map[string]string
		want   []uuid.UUID
	}{
		{"DottedKey", map[string]string{"app.kubernetes.io/name": "checkout"}, []uuid.UUID{tricky}},
		{"DotIsNotAPath", map[string]string{"a.b": "dot"}, []uuid.UUID{tricky}},
		{"DotIsNotAPathNoMatch", map[string]string{"a.b": "b"}, nil},
		{"ApostropheAndQuotedValue", map[string]string{`it's`: `say "hi"`}, []uuid.UUID{tricky}},
		{"QuoteInKey", map[string]string{`a"b`: "quote"}, []uuid.UUID{tricky}},
		{"QuoteInKeyOtherPlan", map[string]string{`a"b`: "other"}, []uuid.UUID{plain}},
		{"BackslashInKeyAndValue", map[string]string{`back\slash`: `C:\temp`}, []uuid.UUID{tricky}},
		{"JSONPathSyntaxInKey", map[string]string{"$.x": "dollar", "[0]": "bracket"}, []uuid.UUID{tricky}},
		{"PlainKey", map[string]string{"app": "checkout"}, []uuid.UUID{plain}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := s.PlanList(ctx, &storage.PlanListParams{Labels: tt.labels})
			require.NoError(t, err)
			if tt.want == nil {
				tt.want = []uuid.UUID{}
			}
			assert.ElementsMatch(t, tt.want, planIDs(page.Plans))
		})
	}
}

func testPlanListPrefixAndLabels(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	want := createPlanWith(t, ctx, s, uuid.Nil, "api-prod", map[string]string{"env": "prod"}).ID
	createPlanWith(t, ctx, s, uuid.Nil, "api-dev", map[string]string{"env": "dev"})
	createPlanWith(t, ctx, s, uuid.Nil, "web-prod", map[string]string{"env": "prod"})
	got := listPlanIDs(t, ctx, s, storage.PlanListParams{NamePrefix: "api", Labels: map[string]string{"env": "prod"}})
	assert.Equal(t, []uuid.UUID{want}, got)
}

func testPlanListWalk(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var want []uuid.UUID
	for i := range 5 {
		want = append(want, createPlan(t, ctx, s, fmt.Sprintf("plan-%d", i)).ID)
	}
	var sizes []int
	plans := walkPages(t, 2, func(cursor string) ([]*storage.Plan, string) {
		page, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		sizes = append(sizes, len(page.Plans))
		return page.Plans, page.NextCursor
	})
	assert.Equal(t, want, planIDs(plans), "every plan once, in ID (creation) order")
	assert.Equal(t, []int{2, 2, 1}, sizes)
	for i, p := range plans {
		assert.Equal(t, fmt.Sprintf("plan-%d", i), p.Name)
		assertJSONEq(t, string(planParams(p.Name).Document), p.Document, "Document")
	}
}

func testPlanListFullLastPage(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var want []uuid.UUID
	for i := range 4 {
		want = append(want, createPlan(t, ctx, s, fmt.Sprintf("plan-%d", i)).ID)
	}
	page, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 4})
	require.NoError(t, err)
	assert.Equal(t, want, planIDs(page.Plans))
	assert.Empty(t, page.NextCursor, "a full page that ends on the last row has no NextCursor")

	first, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 2})
	require.NoError(t, err)
	require.NotEmpty(t, first.NextCursor)
	second, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 2, Cursor: first.NextCursor})
	require.NoError(t, err)
	assert.Equal(t, want[2:], planIDs(second.Plans))
	assert.Empty(t, second.NextCursor)
}

func testPlanListCursorRowDeleted(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var want []uuid.UUID
	for i := range 5 {
		want = append(want, createPlan(t, ctx, s, fmt.Sprintf("plan-%d", i)).ID)
	}
	first, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, want[:2], planIDs(first.Plans))
	require.NotEmpty(t, first.NextCursor)

	require.NoError(t, s.PlanDelete(ctx, want[1]))
	second, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 2, Cursor: first.NextCursor})
	require.NoError(t, err)
	assert.Equal(t, want[2:4], planIDs(second.Plans))
	require.NotEmpty(t, second.NextCursor)
	third, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 2, Cursor: second.NextCursor})
	require.NoError(t, err)
	assert.Equal(t, want[4:], planIDs(third.Plans))
	assert.Empty(t, third.NextCursor)
}

func testPlanListCursorPastEnd(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var ids []uuid.UUID
	for i := range 3 {
		ids = append(ids, createPlan(t, ctx, s, fmt.Sprintf("plan-%d", i)).ID)
	}
	first, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 2})
	require.NoError(t, err)
	require.NotEmpty(t, first.NextCursor)
	require.NoError(t, s.PlanDelete(ctx, ids[2]))

	next, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 2, Cursor: first.NextCursor})
	require.NoError(t, err)
	assert.Empty(t, next.Plans)
	assert.Empty(t, next.NextCursor)
}

func testPlanListMalformedCursor(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	createPlan(t, ctx, s, "plan")
	for name, cursor := range malformedCursors(storage.ListPlans) {
		t.Run(name, func(t *testing.T) {
			_, err := s.PlanList(ctx, &storage.PlanListParams{Cursor: cursor})
			require.ErrorIs(t, err, storage.ErrInvalidInput, "cursor %q", cursor)
		})
	}
}

func testPlanListLimits(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const total = storage.MaxPageLimit + 10
	for i := range total {
		createPlan(t, ctx, s, fmt.Sprintf("plan-%03d", i))
	}

	page, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 0})
	require.NoError(t, err)
	assert.Len(t, page.Plans, storage.DefaultPageLimit, "limit 0 means the default")
	assert.NotEmpty(t, page.NextCursor)

	page, err = s.PlanList(ctx, &storage.PlanListParams{Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, page.Plans, storage.MaxPageLimit, "limit is capped")
	require.NotEmpty(t, page.NextCursor)

	rest, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 1000, Cursor: page.NextCursor})
	require.NoError(t, err)
	assert.Len(t, rest.Plans, total-storage.MaxPageLimit)
	assert.Empty(t, rest.NextCursor)
}

func testPlanListConcurrentInserts(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var existing []uuid.UUID
	for i := range 7 {
		existing = append(existing, createPlan(t, ctx, s, fmt.Sprintf("existing-%d", i)).ID)
	}

	// lowID sorts before every default (time-ordered) ID.
	lowID := func(n int) uuid.UUID {
		return uuid.MustParse(fmt.Sprintf("00000000-0000-7000-8000-%012d", n))
	}
	var seen []uuid.UUID
	var lows []uuid.UUID
	cursor := ""
	for round := 0; ; round++ {
		require.Less(t, round, 100, "pagination does not end")
		page, err := s.PlanList(ctx, &storage.PlanListParams{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		seen = append(seen, planIDs(page.Plans)...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
		// Between pages, other writers add plans both before the cursor
		// and after everything.
		low := createPlanWith(t, ctx, s, lowID(round+1), fmt.Sprintf("low-%d", round), nil).ID
		lows = append(lows, low)
		if round < 2 {
			createPlan(t, ctx, s, fmt.Sprintf("high-%d", round))
		}
	}

	count := map[uuid.UUID]int{}
	for i, id := range seen {
		count[id]++
		if i > 0 {
			assert.Less(t, seen[i-1].String(), id.String(), "rows out of ID order")
		}
	}
	for id, n := range count {
		assert.Equal(t, 1, n, "plan %s seen %d times", id, n)
	}
	for _, id := range existing {
		assert.Equal(t, 1, count[id], "pre-existing plan %s seen %d times", id, count[id])
	}
	for _, id := range lows {
		assert.Zero(t, count[id], "a plan inserted before the cursor appeared")
	}
}
