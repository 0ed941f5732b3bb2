package worker

import (
	"context"
	"runtime/debug"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// Starter prepares, all at once, the jobs of its kind that one claim took,
// before their handlers run: it may read what they need and mark them
// started with one store call instead of one per job. What it returns for
// a job reaches that job's handler through Started.
//
// StartMany is called from the claim loop, so it must be quick. It gets
// the claimed jobs of its kind, in claim order, and returns one value per
// job, in the same order, or nil for all of them; a nil value means
// nothing was prepared, and that job's handler does the work by itself.
// It must fence any write by the jobs' lease tokens, as a handler does.
// The handlers of the jobs start whatever it returns.
type Starter interface {
	StartMany(ctx context.Context, jobs []*storage.Job) []any
}

// HandleStart registers the Starter of a job kind, besides its handler.
func (p *Pool) HandleStart(kind string, s Starter) { p.starters[kind] = s }

// startedKey holds in a handler's context what the kind's Starter
// prepared for its job.
type startedKey struct{}

// Started returns what the Starter of the job's kind prepared for the job
// whose handler was given ctx, or nil.
func Started(ctx context.Context) any { return ctx.Value(startedKey{}) }

// startMany runs the Starter of each kind among claimed on that kind's
// jobs, and returns what each job got, by index of claimed (nil where
// nothing was prepared). Its store calls get the pool's store timeout and
// run to their end even when ctx ends, like the claim.
func (p *Pool) startMany(ctx context.Context, claimed []*storage.Job) []any {
	out := make([]any, len(claimed))
	if len(p.starters) == 0 || len(claimed) == 0 {
		return out
	}
	byKind := map[string][]int{}
	for i, job := range claimed {
		if p.starters[job.Kind] != nil {
			byKind[job.Kind] = append(byKind[job.Kind], i)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.storeTimeout())
	defer cancel()
	for kind, idx := range byKind {
		jobs := make([]*storage.Job, len(idx))
		for k, i := range idx {
			jobs[k] = claimed[i]
		}
		got := p.startKind(sctx, kind, jobs)
		if len(got) != len(jobs) {
			continue
		}
		for k, i := range idx {
			out[i] = got[k]
		}
	}
	return out
}

// startKind calls the Starter of kind, turning a panic into nothing
// prepared: the handlers then do the work by themselves.
func (p *Pool) startKind(ctx context.Context, kind string, jobs []*storage.Job) (got []any) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("job starter panicked", "kind", kind, "jobs", len(jobs), "panic", r, "stack", string(debug.Stack()))
			got = nil
		}
	}()
	return p.starters[kind].StartMany(ctx, jobs)
}
