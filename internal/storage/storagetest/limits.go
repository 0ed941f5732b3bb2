package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// limitCases pin down what every backend refuses: Postgres cannot store the
// byte 0x00 in text nor the escape \u0000 in jsonb, so every store refuses
// both with storage.ErrInvalidInput and writes nothing.
func limitCases() []testCase {
	return []testCase{
		{"PlanCreateRefusesNULInEveryField", testPlanCreateRefusesNUL},
		{"PlanUpdateRefusesNULAndKeepsThePlan", testPlanUpdateRefusesNUL},
		{"PlanCreateAcceptsAnEscapedBackslashBeforeU0000", testPlanCreateEscapedBackslash},
		{"PlanListRefusesNULInFilters", testPlanListRefusesNUL},
		{"JobEnqueueRefusesNULInThePayload", testJobEnqueueRefusesNUL},
		{"JobFailRefusesNULInTheError", testJobFailRefusesNUL},
		{"JobFailManyRefusesNULInAnErrorAndWritesNothing", testJobFailManyRefusesNUL},
		{"ExecutionSetStatusRefusesU0000InTheResult", testExecutionSetStatusRefusesNUL},
	}
}

func testPlanCreateRefusesNUL(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for name, mutate := range map[string]func(p *storage.PlanCreateParams){
		"Name":        func(p *storage.PlanCreateParams) { p.Name = "a\x00b" },
		"Description": func(p *storage.PlanCreateParams) { p.Description = "a\x00b" },
		"LabelKey":    func(p *storage.PlanCreateParams) { p.Labels = map[string]string{"a\x00b": "v"} },
		"LabelValue":  func(p *storage.PlanCreateParams) { p.Labels = map[string]string{"k": "a\x00b"} },
		"Document":    func(p *storage.PlanCreateParams) { p.Document = []byte(`{"steps":[],"x":"a\u0000b"}`) },
		"DocumentKey": func(p *storage.PlanCreateParams) { p.Document = []byte(`{"steps":[],"a\u0000":1}`) },
	} {
		t.Run(name, func(t *testing.T) {
			p := planParams("nul-" + name)
			mutate(p)
			_, err := s.PlanCreate(ctx, p)
			require.ErrorIs(t, err, storage.ErrInvalidInput)
		})
	}
	assert.Empty(t, listPlanIDs(t, ctx, s, storage.PlanListParams{}), "a refused plan was written")
}

func testPlanUpdateRefusesNUL(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "kept")
	for name, mutate := range map[string]func(u *storage.PlanUpdateParams){
		"Name":     func(u *storage.PlanUpdateParams) { u.Name = "a\x00b" },
		"Document": func(u *storage.PlanUpdateParams) { u.Document = []byte(`{"steps":["\u0000"]}`) },
	} {
		t.Run(name, func(t *testing.T) {
			u := &storage.PlanUpdateParams{
				ID: p.ID, ExpectedRevision: p.Revision, Name: p.Name,
				Description: p.Description, Labels: p.Labels, Document: p.Document,
			}
			mutate(u)
			_, err := s.PlanUpdate(ctx, u)
			require.ErrorIs(t, err, storage.ErrInvalidInput)
		})
	}
	got, err := s.PlanGetByID(ctx, p.ID)
	require.NoError(t, err)
	assertPlanEqual(t, p, got)
}

func testPlanCreateEscapedBackslash(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	// `\\u0000` is a backslash followed by the text u0000, not a NUL.
	p := planParams("backslash")
	p.Document = []byte(`{"steps":[],"x":"a\\u0000b"}`)
	created, err := s.PlanCreate(ctx, p)
	require.NoError(t, err)
	assertJSONEq(t, `{"steps":[],"x":"a\\u0000b"}`, created.Document, "document")
}

func testPlanListRefusesNUL(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.PlanList(ctx, &storage.PlanListParams{NamePrefix: "a\x00"})
	require.ErrorIs(t, err, storage.ErrInvalidInput)
	_, err = s.PlanList(ctx, &storage.PlanListParams{Labels: map[string]string{"k": "\x00"}})
	require.ErrorIs(t, err, storage.ErrInvalidInput)
}

func testJobEnqueueRefusesNUL(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	bad := storage.JobEnqueueParams{Kind: "k", Payload: []byte(`{"x":"\u0000"}`)}
	_, err := s.JobEnqueue(ctx, &bad)
	require.ErrorIs(t, err, storage.ErrInvalidInput)
	good := storage.JobEnqueueParams{Kind: "k"}
	_, err = s.JobEnqueueMany(ctx, []*storage.JobEnqueueParams{&good, &bad})
	require.ErrorIs(t, err, storage.ErrInvalidInput)
	assert.Empty(t, listJobs(t, ctx, s, storage.JobListParams{}), "a refused job was written")
}

func testJobFailRefusesNUL(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	j := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	_, err := s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(j), Error: "a\x00b", Retry: true})
	require.ErrorIs(t, err, storage.ErrInvalidInput)
	got := getJob(t, ctx, s, j.ID)
	assert.Equal(t, storage.JobRunning, got.State)
	assert.Empty(t, got.Errors)
}

func testJobFailManyRefusesNUL(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for range 2 {
		enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	}
	jobs := claim(t, ctx, s, storage.DefaultQueue, "worker", 2, longLease)
	require.Len(t, jobs, 2)
	_, err := s.JobFailMany(ctx, []*storage.JobFailParams{
		{JobRef: ref(jobs[0]), Error: "fine", Retry: true, RetryAfter: time.Hour},
		{JobRef: ref(jobs[1]), Error: "a\x00b", Retry: true},
	})
	require.ErrorIs(t, err, storage.ErrInvalidInput)
	for _, j := range jobs {
		got := getJob(t, ctx, s, j.ID)
		assert.Equal(t, storage.JobRunning, got.State, "job %d", j.ID)
		assert.Empty(t, got.Errors, "job %d", j.ID)
	}
}

func testExecutionSetStatusRefusesNUL(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e := createExecution(t, ctx, s, createPlan(t, ctx, s, "p"), "")
	e = setStatus(t, ctx, s, e.ID, storage.ExecutionRunning)
	_, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: e.ID, Status: storage.ExecutionPassed, Result: []byte(`{"body":"ab\u0000cd"}`),
	})
	require.ErrorIs(t, err, storage.ErrInvalidInput)
	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionRunning, got.Status)
	assert.Empty(t, got.Result)
}
