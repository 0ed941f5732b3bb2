package worker

import (
	"context"
	"time"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// complete writes outcomes in batches: when CompleteBatch have gathered or
// CompleteDelay has passed since the first, and once more when results is
// closed. A batch that cannot be written is kept and retried, so no outcome
// is lost while the pool runs; the job's lease keeps being extended until
// its outcome is written.
func (p *Pool) complete() {
	var pending []outcome
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	backoff := time.Duration(0)
	for {
		var fire <-chan time.Time
		if len(pending) > 0 {
			fire = timer.C
		}
		select {
		case o, ok := <-p.results:
			if !ok {
				p.flushAtShutdown(pending)
				return
			}
			if len(pending) == 0 {
				timer.Reset(p.cfg.CompleteDelay)
			}
			pending = append(pending, o)
			if len(pending) < p.cfg.CompleteBatch {
				continue
			}
		case <-fire:
		}
		if err := p.flush(context.Background(), pending); err != nil {
			p.outage.fail("record job outcomes", err)
			backoff = min(max(2*backoff, 100*time.Millisecond), 2*time.Second)
			timer.Reset(backoff)
			continue
		}
		p.outage.ok()
		backoff = 0
		pending = pending[:0]
	}
}

// flushAtShutdown writes the last outcomes, retrying for up to a minute.
func (p *Pool) flushAtShutdown(pending []outcome) {
	deadline := time.Now().Add(time.Minute)
	for len(pending) > 0 {
		err := p.flush(context.Background(), pending)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.log.Error("could not record job outcomes at shutdown; their leases will expire and the jobs run again",
				"jobs", len(pending), "error", err)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// flush writes one batch of outcomes, at most one statement per kind.
func (p *Pool) flush(ctx context.Context, batch []outcome) error {
	var done, release []storage.JobRef
	var fails []*storage.JobFailParams
	for _, o := range batch {
		ref := storage.JobRef{ID: o.job.ID, Token: o.job.LeaseToken}
		switch o.kind {
		case outcomeComplete:
			done = append(done, ref)
		case outcomeFail:
			fails = append(fails, o.fail)
		case outcomeRelease:
			release = append(release, ref)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	written := map[int64]bool{}
	if len(done) > 0 {
		ids, err := p.store.JobCompleteMany(ctx, done)
		if err != nil {
			return err
		}
		mark(written, ids)
	}
	if len(fails) > 0 {
		ids, err := p.store.JobFailMany(ctx, fails)
		if err != nil {
			return err
		}
		mark(written, ids)
	}
	if len(release) > 0 {
		ids, err := p.store.JobRelease(ctx, release)
		if err != nil {
			return err
		}
		mark(written, ids)
	}
	p.unvacuumed.Add(int64(len(written)))
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range batch {
		if h := p.held[o.job.ID]; h != nil && h.ref.Token == o.job.LeaseToken {
			delete(p.held, o.job.ID)
		}
		if o.kind != outcomeDrop && !written[o.job.ID] {
			p.log.Warn("job outcome not recorded: lease lost, the job may run again", "job_id", o.job.ID)
		}
	}
	return nil
}

func mark(set map[int64]bool, ids []int64) {
	for _, id := range ids {
		set[id] = true
	}
}
