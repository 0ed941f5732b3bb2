package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/metrics"
	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const durationName = "astro_store_operation_duration_seconds"

// nilStore has a nil storage.Store inside: every method panics when it is
// called, which proves that the decorator called it.
type nilStore struct{ storage.Store }

// TestInstrumentStoreRecordsEveryMethod calls every method of
// storage.Store, found by reflection, through the decorator, and checks
// that each call reached the wrapped store and was recorded once, under
// the method's own name.
func TestInstrumentStoreRecordsEveryMethod(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	st := metrics.InstrumentStore(nilStore{}, "fake", m.Store)
	iface := reflect.TypeFor[storage.Store]()
	require.Greater(t, iface.NumMethod(), 70, "storage.Store has its methods")
	v := reflect.ValueOf(st)
	ctxType := reflect.TypeFor[context.Context]()
	for i := range iface.NumMethod() {
		name := iface.Method(i).Name
		method := v.MethodByName(name)
		require.True(t, method.IsValid(), "the decorator has %s", name)
		args := make([]reflect.Value, method.Type().NumIn())
		for j := range args {
			if in := method.Type().In(j); in == ctxType {
				args[j] = reflect.ValueOf(context.Background())
			} else {
				args[j] = reflect.Zero(in)
			}
		}
		reached := func() (reached bool) {
			defer func() { reached = recover() != nil }()
			method.Call(args)
			return false
		}()
		require.True(t, reached, "%s calls the wrapped store", name)
		require.EqualValues(t, 1, histCount(t, m.Registry(), durationName, map[string]string{"operation": name, "backend": "fake"}),
			"%s is recorded under its name", name)
		require.EqualValues(t, i+1, histCount(t, m.Registry(), durationName, nil),
			"%s records one operation", name)
	}
}

// errStore fails the calls that it overrides with err.
type errStore struct {
	storage.Store
	err error
}

func (s errStore) PlanGetByID(context.Context, uuid.UUID) (*storage.Plan, error) { return nil, s.err }

func TestErrorKind(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("get plan: %w", storage.ErrNotFound), metrics.KindNotFound},
		{fmt.Errorf("create plan: %w", storage.ErrConflict), metrics.KindConflict},
		{storage.ErrStaleRevision, metrics.KindConflict},
		{storage.ErrIllegalTransition, metrics.KindConflict},
		{storage.ErrReferenced, metrics.KindConflict},
		{fmt.Errorf("list: %w", storage.ErrInvalidInput), metrics.KindInvalidInput},
		{fmt.Errorf("complete: %w", storage.ErrLeaseLost), metrics.KindLeaseLost},
		{fmt.Errorf("ping: %w: %w", storage.ErrUnavailable, context.DeadlineExceeded), metrics.KindUnavailable},
		{fmt.Errorf("get: %w", context.Canceled), metrics.KindCanceled},
		// astro-runner's own deadlines: the store did not answer in time.
		{context.DeadlineExceeded, metrics.KindUnavailable},
		{fmt.Errorf("claim: %w", context.DeadlineExceeded), metrics.KindUnavailable},
		{errors.New("disk on fire"), metrics.KindOther},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, metrics.ErrorKind(tc.err), "%v", tc.err)
	}
}

func TestErrorsCountByKind(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	ctx := context.Background()
	for _, err := range []error{storage.ErrNotFound, storage.ErrNotFound, errors.New("boom")} {
		_, got := metrics.InstrumentStore(errStore{err: err}, "fake", m.Store).PlanGetByID(ctx, uuid.New())
		require.ErrorIs(t, got, err, "the error passes unchanged")
	}
	errs := func(kind string) float64 {
		return value(t, m.Registry(), "astro_store_errors_total", map[string]string{"operation": "PlanGetByID", "backend": "fake", "kind": kind})
	}
	require.EqualValues(t, 2, errs(metrics.KindNotFound))
	require.EqualValues(t, 1, errs(metrics.KindOther))
	require.EqualValues(t, 0, errs(metrics.KindUnavailable))
	require.EqualValues(t, 3, histCount(t, m.Registry(), durationName, map[string]string{"operation": "PlanGetByID"}),
		"failed calls have a duration too")
}

func TestAddedByQueue(t *testing.T) {
	t.Parallel()
	p := func(queue, key string) *storage.JobEnqueueParams {
		return &storage.JobEnqueueParams{Queue: queue, Kind: "k", UniqueKey: key}
	}
	cases := []struct {
		name  string
		ps    []*storage.JobEnqueueParams
		added int
		want  map[string]int
	}{
		{"all added", []*storage.JobEnqueueParams{p("", ""), p("eu", "a"), p("eu", "")}, 3,
			map[string]int{storage.DefaultQueue: 1, "eu": 2}},
		{"none", nil, 0, map[string]int{}},
		{"keyed skipped, one queue", []*storage.JobEnqueueParams{p("eu", "a"), p("eu", "b"), p("us", "")}, 2,
			map[string]int{"eu": 1, "us": 1}},
		{"all keyed skipped", []*storage.JobEnqueueParams{p("eu", "a"), p("us", "")}, 1,
			map[string]int{"us": 1}},
		{"keyed over queues: in order", []*storage.JobEnqueueParams{p("eu", "a"), p("us", "b"), p("us", "c")}, 2,
			map[string]int{"eu": 1, "us": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, metrics.AddedByQueue(tc.ps, tc.added))
		})
	}
}

func TestStoreMetricsOnSQLite(t *testing.T) {
	t.Parallel()
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	testStoreMetrics(t, st, "sqlite")
}

func TestStoreMetricsOnPostgres(t *testing.T) {
	t.Parallel()
	st, err := pgstore.Open(context.Background(), pgstore.Config{URL: pgtest.URL(t), MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	testStoreMetrics(t, st, "postgres")
}

// testStoreMetrics checks the decorator over a real store: operations and
// their errors are recorded with the backend, the store inside InTx and
// inside a nested InTx is instrumented, and enqueued jobs count once their
// transaction commits.
func testStoreMetrics(t *testing.T, raw storage.Store, backend string) {
	ctx := context.Background()
	m := metrics.New(metrics.Options{})
	reg := m.Registry()
	st := metrics.InstrumentStore(raw, backend, m.Store)
	op := func(name string) map[string]string { return map[string]string{"operation": name, "backend": backend} }
	enqueued := func(queue string) float64 {
		return value(t, reg, "astro_jobs_enqueued_total", map[string]string{"queue": queue})
	}

	_, err := st.PlanGetByID(ctx, uuid.New())
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.EqualValues(t, 1, histCount(t, reg, durationName, op("PlanGetByID")))
	require.EqualValues(t, 1, value(t, reg, "astro_store_errors_total",
		map[string]string{"operation": "PlanGetByID", "backend": backend, "kind": metrics.KindNotFound}))

	_, err = st.PlanCreate(ctx, &storage.PlanCreateParams{Name: "one", Document: []byte(`{"steps":[]}`)})
	require.NoError(t, err)
	_, err = st.PlanCreate(ctx, &storage.PlanCreateParams{Name: "one", Document: []byte(`{"steps":[]}`)})
	require.ErrorIs(t, err, storage.ErrConflict)
	require.EqualValues(t, 2, histCount(t, reg, durationName, op("PlanCreate")))
	require.EqualValues(t, 1, value(t, reg, "astro_store_errors_total",
		map[string]string{"operation": "PlanCreate", "backend": backend, "kind": metrics.KindConflict}))

	// Outside a transaction an enqueue counts at once.
	_, err = st.JobEnqueue(ctx, &storage.JobEnqueueParams{Kind: "k"})
	require.NoError(t, err)
	require.EqualValues(t, 1, enqueued(storage.DefaultQueue))

	// A rolled-back transaction's enqueues never count, nested or not.
	errRollback := errors.New("roll back")
	err = st.InTx(ctx, func(tx storage.Store) error {
		if _, err := tx.JobEnqueue(ctx, &storage.JobEnqueueParams{Queue: "eu", Kind: "k"}); err != nil {
			return err
		}
		if err := tx.InTx(ctx, func(inner storage.Store) error {
			_, err := inner.JobEnqueueMany(ctx, []*storage.JobEnqueueParams{{Queue: "eu", Kind: "k"}})
			return err
		}); err != nil {
			return err
		}
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	require.Zero(t, enqueued("eu"), "nothing committed")
	require.EqualValues(t, 2, histCount(t, reg, durationName, op("JobEnqueue")), "the store inside InTx records")
	require.EqualValues(t, 1, histCount(t, reg, durationName, op("JobEnqueueMany")), "the store inside a nested InTx records")
	require.EqualValues(t, 2, histCount(t, reg, durationName, op("InTx")), "the outer and the nested InTx")
	require.EqualValues(t, 1, value(t, reg, "astro_store_errors_total",
		map[string]string{"operation": "InTx", "backend": backend, "kind": metrics.KindOther}), "only the outer InTx failed")

	// A committed one's count once it commits; JobEnqueueMany counts the
	// jobs it added, not those whose key was taken.
	err = st.InTx(ctx, func(tx storage.Store) error {
		if _, err := tx.JobEnqueue(ctx, &storage.JobEnqueueParams{Queue: "eu", Kind: "k", UniqueKey: "taken"}); err != nil {
			return err
		}
		return tx.InTx(ctx, func(inner storage.Store) error {
			_, err := inner.JobEnqueueMany(ctx, []*storage.JobEnqueueParams{
				{Queue: "eu", Kind: "k", UniqueKey: "taken"},
				{Queue: "eu", Kind: "k", UniqueKey: "fresh"},
				{Queue: "us", Kind: "k"},
			})
			if err != nil {
				return err
			}
			require.Zero(t, enqueued("eu"), "not before the commit")
			return nil
		})
	})
	require.NoError(t, err)
	require.EqualValues(t, 2, enqueued("eu"))
	require.EqualValues(t, 1, enqueued("us"))
	require.EqualValues(t, 1, enqueued(storage.DefaultQueue))

	// The queue state comes through the decorator too.
	m.CollectQueueState(st, metrics.QueueStateOptions{})
	require.EqualValues(t, 2, value(t, reg, "astro_jobs", map[string]string{"queue": "eu", "state": string(storage.JobAvailable)}))
	require.EqualValues(t, 0, value(t, reg, "astro_jobs", map[string]string{"queue": "eu", "state": string(storage.JobRunning)}))
	require.Len(t, series(t, reg, "astro_jobs", map[string]string{"queue": "us"}), len(storage.JobStates),
		"every state of a queue is reported")
	require.Len(t, series(t, reg, "astro_queue_oldest_available_age_seconds", map[string]string{"queue": "eu"}), 1)
	require.EqualValues(t, 1, histCount(t, reg, durationName, op("JobStats")))
}

// TestStuckPostgresCountsAsUnavailable holds a lock that the queue state's
// query waits for, as a database stuck behind a migration, a hung
// connection or a network that drops packets would keep it waiting, and
// scrapes: the query runs out of time, and that is store trouble that the
// alert rule (kind unavailable or other) must see, not a caller that went
// away.
func TestStuckPostgresCountsAsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, err := pgstore.Open(ctx, pgstore.Config{URL: pgtest.URL(t), MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Close() })
	m := metrics.New(metrics.Options{})
	st := metrics.InstrumentStore(raw, "postgres", m.Store)
	m.CollectQueueState(st, metrics.QueueStateOptions{Timeout: 200 * time.Millisecond})

	tx, err := raw.Pool().Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	_, err = tx.Exec(ctx, "LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	_, err = m.Registry().Gather()
	require.NoError(t, err)
	errs := func(kind string) float64 {
		return value(t, m.Registry(), "astro_store_errors_total",
			map[string]string{"operation": "JobStats", "backend": "postgres", "kind": kind})
	}
	require.EqualValues(t, 1, errs(metrics.KindUnavailable)+errs(metrics.KindCanceled), "the scrape's query failed")
	require.EqualValues(t, 1, errs(metrics.KindUnavailable), "a store that does not answer is unavailable")
}

// okStore answers PlanGetByID at once, to measure the decorator alone.
type okStore struct{ storage.Store }

func (okStore) PlanGetByID(context.Context, uuid.UUID) (*storage.Plan, error) { return nil, nil }

// BenchmarkInstrumentedCall measures what the decorator adds to one store
// call: compare with the bare store.
func BenchmarkInstrumentedCall(b *testing.B) {
	ctx := context.Background()
	id := uuid.New()
	for _, tc := range []struct {
		name string
		st   storage.Store
	}{
		{"bare", okStore{}},
		{"instrumented", metrics.InstrumentStore(okStore{}, "fake", metrics.New(metrics.Options{}).Store)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				_, _ = tc.st.PlanGetByID(ctx, id)
			}
		})
	}
}
