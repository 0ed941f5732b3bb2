package groupcommit_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/groupcommit"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backends open the stores every test runs over: SQLite in memory and in a
// file, and Postgres in a schema of its own (skipped without a database,
// failed when ASTRO_REQUIRE_POSTGRES=1).
var backends = []struct {
	name string
	open func(t *testing.T) storage.Store
}{
	{"Memory", func(t *testing.T) storage.Store {
		st, err := sqlitestore.Open(t.Context(), sqlitestore.Config{})
		require.NoError(t, err)
		return st
	}},
	{"SQLiteFile", func(t *testing.T) storage.Store {
		st, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "astro.db")})
		require.NoError(t, err)
		return st
	}},
	{"Postgres", func(t *testing.T) storage.Store {
		st, err := pgstore.Open(t.Context(), pgstore.Config{URL: pgtest.URL(t), MaxConns: 8})
		require.NoError(t, err)
		return st
	}},
}

// forEachBackend runs test over a fresh store of each backend, wrapped in a
// countingStore.
func forEachBackend(t *testing.T, test func(t *testing.T, cs *countingStore)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st := b.open(t)
			t.Cleanup(func() { require.NoError(t, st.Close()) })
			test(t, &countingStore{Store: st, held: make(chan struct{}), hold: make(chan struct{})})
		})
	}
}

// countingStore counts the transactions begun through it. The first one
// waits, before it begins, until hold is closed; it closes held when it
// starts waiting. Tests that do not hold it close hold at once.
type countingStore struct {
	storage.Store
	txs  atomic.Int64
	held chan struct{}
	hold chan struct{}
}

func (s *countingStore) InTx(ctx context.Context, fn func(tx storage.Store) error) error {
	if s.txs.Add(1) == 1 {
		close(s.held)
		<-s.hold
	}
	return s.Store.InTx(ctx, fn)
}

// write is a transaction function that creates one plan, and counts its
// runs. fail, when set, is returned after the plan was written; panics,
// when set, is panicked with instead. With swallow, an error creating the
// plan is ignored.
type write struct {
	ctx     context.Context
	id      uuid.UUID
	name    string
	runs    atomic.Int64
	fail    error
	panics  any
	swallow bool
	// collect, when set, is run by call instead of fn.
	collect func(tx storage.Store) error
	// refuse, when set, is returned through groupcommit.Refuse before
	// anything is written.
	refuse error
}

func newWrite(ctx context.Context, name string) *write {
	return &write{ctx: ctx, id: uuid.New(), name: name}
}

func (w *write) fn(tx storage.Store) error {
	w.runs.Add(1)
	if w.refuse != nil {
		return groupcommit.Refuse(w.refuse)
	}
	if _, err := tx.PlanCreate(w.ctx, &storage.PlanCreateParams{
		ID: w.id, Name: w.name, Document: []byte(`{"steps":[]}`),
	}); err != nil && !w.swallow {
		return fmt.Errorf("create plan %s: %w", w.name, err)
	}
	if w.panics != nil {
		panic(w.panics)
	}
	return w.fail
}

// committed reports whether w's plan is in the store.
func (w *write) committed(t *testing.T, st storage.Store) bool {
	t.Helper()
	_, err := st.PlanGetByID(context.Background(), w.id)
	if storage.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return true
}

// outcome is what one InTx call gave: its error, or the value it panicked
// with.
type outcome struct {
	err      error
	panicked any
}

// call runs g.InTx(w.ctx, w.fn) in its own goroutine and sends its outcome.
func call(g *groupcommit.Group, w *write) <-chan outcome {
	out := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			o.panicked = recover()
			out <- o
		}()
		fn := w.fn
		if w.collect != nil {
			fn = w.collect
		}
		o.err = g.InTx(w.ctx, fn)
	}()
	return out
}

// runQueued runs first alone, holding its transaction (cs's first) until
// each of queued has joined the queue behind it, in order; then it lets
// the transaction go and returns every outcome, first's first. The queued
// calls thus form the next batches, deterministically.
func runQueued(t *testing.T, g *groupcommit.Group, cs *countingStore, first *write, queued ...*write) []outcome {
	t.Helper()
	chans := []<-chan outcome{call(g, first)}
	<-cs.held
	for i, w := range queued {
		chans = append(chans, call(g, w))
		require.Eventually(t, func() bool { return g.Queued() == i+1 }, 10*time.Second, time.Millisecond,
			"call %d never queued", i+1)
	}
	close(cs.hold)
	outs := make([]outcome, 0, len(chans))
	for _, ch := range chans {
		outs = append(outs, <-ch)
	}
	return outs
}

func TestLoneCallRunsAtOnceInATransactionOfItsOwn(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		close(cs.hold)
		g := groupcommit.New(cs, 64)
		w := newWrite(t.Context(), "lone")
		require.NoError(t, g.InTx(w.ctx, w.fn))
		assert.Equal(t, int64(1), cs.txs.Load(), "transactions")
		assert.Equal(t, int64(1), w.runs.Load(), "runs")
		assert.True(t, w.committed(t, cs))
		assert.Zero(t, g.Queued())
	})
}

func TestConcurrentCallsShareATransaction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxBatch int
		wantTxs  int64
	}{
		{maxBatch: 64, wantTxs: 2}, // The held one, then the other 10 in one batch.
		{maxBatch: 4, wantTxs: 4},  // The held one, then batches of 4, 4 and 2.
	} {
		t.Run(fmt.Sprintf("Max%d", tc.maxBatch), func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, cs *countingStore) {
				g := groupcommit.New(cs, tc.maxBatch)
				first := newWrite(t.Context(), "first")
				var queued []*write
				for i := range 10 {
					queued = append(queued, newWrite(t.Context(), fmt.Sprintf("queued-%d", i)))
				}
				for i, o := range runQueued(t, g, cs, first, queued...) {
					require.NoError(t, o.err, "call %d", i)
					require.Nil(t, o.panicked, "call %d", i)
				}
				assert.Equal(t, tc.wantTxs, cs.txs.Load(), "11 calls, in batches")
				for _, w := range append([]*write{first}, queued...) {
					assert.Equal(t, int64(1), w.runs.Load(), "runs of %s", w.name)
					assert.True(t, w.committed(t, cs), "%s committed", w.name)
				}
				assert.Zero(t, g.Queued())
			})
		})
	}
}

var errBoom = errors.New("boom")

func TestFailingCallDoesNotFailItsNeighbours(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		g := groupcommit.New(cs, 64)
		first, a, b, c := newWrite(t.Context(), "first"), newWrite(t.Context(), "a"),
			newWrite(t.Context(), "bad"), newWrite(t.Context(), "c")
		b.fail = errBoom
		outs := runQueued(t, g, cs, first, a, b, c)
		require.NoError(t, outs[0].err)
		require.NoError(t, outs[1].err)
		require.ErrorIs(t, outs[2].err, errBoom)
		require.NoError(t, outs[3].err)
		assert.True(t, a.committed(t, cs))
		assert.False(t, b.committed(t, cs), "the failing call's write rolled back")
		assert.True(t, c.committed(t, cs))
		// The held one; the shared one, rolled back; each of a, b, c alone.
		assert.Equal(t, int64(5), cs.txs.Load(), "transactions")
		assert.Equal(t, int64(2), a.runs.Load(), "a ran shared, then alone")
		assert.Equal(t, int64(2), b.runs.Load(), "b ran shared, then alone")
		assert.Equal(t, int64(1), c.runs.Load(), "c ran alone only: the batch stopped at b")
	})
}

// TestSwallowedStatementErrorDoesNotFailItsNeighbours has a call that
// ignores the error of a failing statement. On Postgres that aborts the
// transaction: the calls after it in the batch must not be lost with it,
// but commit alone.
func TestSwallowedStatementErrorDoesNotFailItsNeighbours(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		g := groupcommit.New(cs, 64)
		first, a, c := newWrite(t.Context(), "taken"), newWrite(t.Context(), "a"), newWrite(t.Context(), "c")
		dup := newWrite(t.Context(), "taken") // A conflict with first, ignored.
		dup.swallow = true
		outs := runQueued(t, g, cs, first, a, dup, c)
		require.NoError(t, outs[0].err)
		require.NoError(t, outs[1].err)
		require.NoError(t, outs[3].err)
		t.Logf("the call that swallowed its error got %v", outs[2].err) // An error on Postgres only.
		assert.True(t, a.committed(t, cs))
		assert.False(t, dup.committed(t, cs))
		assert.True(t, c.committed(t, cs))
	})
}

func TestCallWhoseContextIsDoneDoesNotRun(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		g := groupcommit.New(cs, 64)
		done, cancel := context.WithCancel(t.Context())
		cancel()
		first, a, c := newWrite(t.Context(), "first"), newWrite(t.Context(), "a"), newWrite(t.Context(), "c")
		cancelled := newWrite(done, "cancelled")
		firstDone := call(g, first)
		<-cs.held
		// Behind a running batch, a call whose context is done leaves the
		// queue at once, without running and without waiting.
		require.ErrorIs(t, (<-call(g, cancelled)).err, context.Canceled)
		assert.Zero(t, g.Queued())
		chans := []<-chan outcome{firstDone}
		for i, w := range []*write{a, c} {
			chans = append(chans, call(g, w))
			require.Eventually(t, func() bool { return g.Queued() == i+1 }, 10*time.Second, time.Millisecond)
		}
		close(cs.hold)
		for i, ch := range chans {
			require.NoError(t, (<-ch).err, "call %d", i)
		}
		assert.Zero(t, cancelled.runs.Load(), "the cancelled call never ran")
		assert.False(t, cancelled.committed(t, cs))
		assert.True(t, a.committed(t, cs))
		assert.True(t, c.committed(t, cs))
		assert.Equal(t, int64(2), cs.txs.Load(), "a and c still shared a transaction")

		lone := newWrite(done, "lone")
		require.ErrorIs(t, g.InTx(lone.ctx, lone.fn), context.Canceled)
		assert.Zero(t, lone.runs.Load())
		assert.Equal(t, int64(2), cs.txs.Load(), "no transaction for a cancelled lone call")
	})
}

// panicValue is what a write panics with.
type panicValue struct{ msg string }

func TestPanicInABatchReachesItsCallerAndNoOneElse(t *testing.T) {
	t.Parallel()
	// At 0 the panicking call leads its batch; at 1 it follows.
	for _, at := range []int{0, 1} {
		t.Run(fmt.Sprintf("At%d", at), func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, cs *countingStore) {
				g := groupcommit.New(cs, 64)
				first := newWrite(t.Context(), "first")
				queued := []*write{newWrite(t.Context(), "a"), newWrite(t.Context(), "b"), newWrite(t.Context(), "c")}
				bad := queued[at]
				bad.panics = panicValue{"oops"}
				outs := runQueued(t, g, cs, first, queued...)
				for i, w := range queued {
					o := outs[i+1]
					if w == bad {
						assert.Equal(t, panicValue{"oops"}, o.panicked, "the panic reaches its own caller")
						assert.False(t, w.committed(t, cs), "the panicking call's write rolled back")
						continue
					}
					assert.Nil(t, o.panicked, "%s", w.name)
					assert.NoError(t, o.err, "%s", w.name)
					assert.True(t, w.committed(t, cs), "%s", w.name)
				}
				// The lead was handed on: the Group still serves.
				after := newWrite(t.Context(), "after")
				require.NoError(t, g.InTx(after.ctx, after.fn))
				assert.True(t, after.committed(t, cs))
				assert.Zero(t, g.Queued())
			})
		})
	}
}

func TestPanicOfALoneCallHandsTheLeadOn(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		close(cs.hold)
		g := groupcommit.New(cs, 64)
		bad := newWrite(t.Context(), "bad")
		bad.panics = panicValue{"lone"}
		o := <-call(g, bad)
		assert.Equal(t, panicValue{"lone"}, o.panicked)
		assert.False(t, bad.committed(t, cs))

		after := newWrite(t.Context(), "after")
		require.NoError(t, g.InTx(after.ctx, after.fn))
		assert.True(t, after.committed(t, cs))
	})
}

// lostCommitStore runs a transaction's fn and then, when it succeeded,
// fails as a commit whose connection was lost does: with
// storage.ErrUnavailable, rolling back. Its first transaction waits as
// countingStore's does.
type lostCommitStore struct{ *countingStore }

func (s lostCommitStore) InTx(ctx context.Context, fn func(tx storage.Store) error) error {
	return s.countingStore.InTx(ctx, func(tx storage.Store) error {
		if err := fn(tx); err != nil {
			return err
		}
		return fmt.Errorf("commit transaction: %w: connection lost", storage.ErrUnavailable)
	})
}

// TestAnUnknownCommitIsNotRunAgain checks that when the store is
// unavailable at a shared commit, whose outcome is then unknown, every
// call of the batch gets that error and none runs again, so that nothing
// can be written twice.
func TestAnUnknownCommitIsNotRunAgain(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		st := lostCommitStore{cs}
		g := groupcommit.New(st, 64)
		first, a, b := newWrite(t.Context(), "first"), newWrite(t.Context(), "a"), newWrite(t.Context(), "b")
		chans := []<-chan outcome{call(g, first)}
		<-cs.held
		for i, w := range []*write{a, b} {
			chans = append(chans, call(g, w))
			require.Eventually(t, func() bool { return g.Queued() == i+1 }, 10*time.Second, time.Millisecond)
		}
		close(cs.hold)
		for i, ch := range chans {
			o := <-ch
			require.Nil(t, o.panicked)
			require.ErrorIs(t, o.err, storage.ErrUnavailable, "call %d", i)
		}
		assert.Equal(t, int64(2), cs.txs.Load(), "the lone first call, then a and b together, and no reruns")
		for _, w := range []*write{first, a, b} {
			assert.Equal(t, int64(1), w.runs.Load(), "runs of %s", w.name)
		}
	})
}

// collectedPlan is an item of planWrites: a plan to create, and whether
// the Write that created it saw it with others.
type collectedPlan struct {
	id      uuid.UUID
	name    string
	batchOf int
}

// planWrites returns a Collector that creates each item's plan and
// records the size of each Write; a plan named "refused" fails its Write.
func planWrites(sizes *[]int, mu *sync.Mutex) *groupcommit.Collector[*collectedPlan] {
	return &groupcommit.Collector[*collectedPlan]{Write: func(ctx context.Context, tx storage.Store, items []*collectedPlan) error {
		mu.Lock()
		*sizes = append(*sizes, len(items))
		mu.Unlock()
		for _, it := range items {
			if it.name == "refused" {
				return fmt.Errorf("write %s: %w", it.name, errBoom)
			}
			if _, err := tx.PlanCreate(ctx, &storage.PlanCreateParams{ID: it.id, Name: it.name, Document: []byte(`{"steps":[]}`)}); err != nil {
				return err
			}
			it.batchOf = len(items)
		}
		return nil
	}}
}

// TestCollectedItemsAreWrittenOncePerBatch checks that the items the calls
// of a shared transaction collect are written by one Write, in order,
// after every fn ran, and that a lone call's item is written at once.
func TestCollectedItemsAreWrittenOncePerBatch(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		var mu sync.Mutex
		var sizes []int
		c := planWrites(&sizes, &mu)
		g := groupcommit.New(cs, 64)
		items := map[*write]*collectedPlan{}
		collecting := func(name string) *write {
			w := newWrite(t.Context(), name)
			it := &collectedPlan{id: uuid.New(), name: name + "-collected"}
			if name == "refused" {
				it.name = "refused"
			}
			items[w] = it
			inner := w.fn
			w.collect = func(tx storage.Store) error {
				if err := inner(tx); err != nil {
					return err
				}
				return groupcommit.Collect(w.ctx, tx, c, it)
			}
			return w
		}
		first, a, b, d := collecting("first"), collecting("a"), collecting("b"), collecting("d")
		for i, o := range runQueued(t, g, cs, first, a, b, d) {
			require.NoError(t, o.err, "call %d", i)
		}
		assert.Equal(t, []int{1, 3}, sizes, "the lone first call writes at once; a, b and d in one Write")
		assert.Equal(t, 1, items[first].batchOf)
		for _, w := range []*write{a, b, d} {
			assert.Equal(t, 3, items[w].batchOf, w.name)
			_, err := cs.PlanGetByID(t.Context(), items[w].id)
			require.NoError(t, err, "%s's item committed", w.name)
			assert.True(t, w.committed(t, cs))
		}
	})
}

// TestAFailingWriteRunsEveryCallAgainAlone checks that when the shared
// Write fails, every call runs again alone, so that only the refused item
// fails and nothing of it is written.
func TestAFailingWriteRunsEveryCallAgainAlone(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		var mu sync.Mutex
		var sizes []int
		c := planWrites(&sizes, &mu)
		g := groupcommit.New(cs, 64)
		ws := []*write{newWrite(t.Context(), "lead"), newWrite(t.Context(), "x"), newWrite(t.Context(), "refused"), newWrite(t.Context(), "y")}
		its := make([]*collectedPlan, len(ws))
		for i, w := range ws {
			w, it := w, &collectedPlan{id: uuid.New(), name: w.name + "-item"}
			if w.name == "refused" {
				it.name = "refused"
			}
			its[i] = it
			inner := w.fn
			w.collect = func(tx storage.Store) error {
				if err := inner(tx); err != nil {
					return err
				}
				return groupcommit.Collect(w.ctx, tx, c, it)
			}
		}
		outs := runQueued(t, g, cs, ws[0], ws[1:]...)
		require.NoError(t, outs[0].err)
		require.NoError(t, outs[1].err)
		require.ErrorIs(t, outs[2].err, errBoom)
		require.NoError(t, outs[3].err)
		assert.Equal(t, []int{1, 3, 1, 1, 1}, sizes, "the shared Write fails, then x, refused and y write alone")
		assert.False(t, ws[2].committed(t, cs), "the refused call's own writes rolled back")
		for _, i := range []int{1, 3} {
			assert.True(t, ws[i].committed(t, cs), ws[i].name)
			assert.Equal(t, 1, its[i].batchOf, "%s was written alone", ws[i].name)
		}
	})
}

// TestARefusedCallLeavesItsBatchWithoutRollingItBack checks that a call
// whose fn refuses it before writing anything gets its error while the
// others of its batch commit in the same transaction, and that a refusal
// after Collect rolls the batch back as any error does.
func TestARefusedCallLeavesItsBatchWithoutRollingItBack(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		g := groupcommit.New(cs, 64)
		first, a, bad, c := newWrite(t.Context(), "first"), newWrite(t.Context(), "a"),
			newWrite(t.Context(), "bad"), newWrite(t.Context(), "c")
		bad.refuse = fmt.Errorf("plan: %w", storage.ErrNotFound)
		outs := runQueued(t, g, cs, first, a, bad, c)
		for i, o := range outs {
			require.Nil(t, o.panicked, "call %d", i)
			if i == 2 {
				require.ErrorIs(t, o.err, storage.ErrNotFound)
				assert.Equal(t, "plan: not found", o.err.Error(), "the refusal keeps the error's text")
				continue
			}
			require.NoError(t, o.err, "call %d", i)
		}
		assert.Equal(t, int64(2), cs.txs.Load(), "the held one, then one shared transaction, not run again")
		for _, w := range []*write{first, a, c} {
			assert.Equal(t, int64(1), w.runs.Load(), "runs of %s", w.name)
			assert.True(t, w.committed(t, cs), "%s committed", w.name)
		}
		assert.Equal(t, int64(1), bad.runs.Load())
		assert.False(t, bad.committed(t, cs))
	})
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		var mu sync.Mutex
		var sizes []int
		coll := planWrites(&sizes, &mu)
		g := groupcommit.New(cs, 64)
		first, a, late := newWrite(t.Context(), "first"), newWrite(t.Context(), "a"), newWrite(t.Context(), "late")
		lateItem := &collectedPlan{id: uuid.New(), name: "late-item"}
		late.collect = func(tx storage.Store) error {
			late.runs.Add(1)
			if err := groupcommit.Collect(late.ctx, tx, coll, lateItem); err != nil {
				return err
			}
			return groupcommit.Refuse(errBoom)
		}
		outs := runQueued(t, g, cs, first, a, late)
		require.NoError(t, outs[0].err)
		require.NoError(t, outs[1].err)
		require.ErrorIs(t, outs[2].err, errBoom)
		assert.Equal(t, int64(4), cs.txs.Load(), "the held one, the shared one rolled back, then a and late alone")
		assert.Equal(t, int64(2), late.runs.Load(), "a refusal after Collect is an error like any other")
		assert.True(t, a.committed(t, cs))
	})
}
