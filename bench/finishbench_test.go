package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// BenchmarkFinishExecution measures what the alert rules add to storing an
// execution's final status, as the execute_plan handler does it:
//   - status: the status write alone (the handler before alerts).
//   - no-rules: the status write and the evaluation of the alert rules in
//     one transaction, with no rule stored.
//   - one-rule: the same with one rule for every plan; each passing
//     execution locks and updates the rule's state for its plan, and sends
//     nothing.
//
// Each iteration finishes one running execution of a plan of its own.
func BenchmarkFinishExecution(b *testing.B) {
	for _, f := range fixtures {
		for _, mode := range []string{"status", "no-rules", "one-rule"} {
			b.Run(f.name+"/"+mode, func(b *testing.B) {
				benchFinish(b, f.open(b).store, mode)
			})
		}
	}
}

func benchFinish(b *testing.B, st storage.Store, mode string) {
	ctx := context.Background()
	eval := &alert.Evaluator{Store: st, Logger: slog.New(slog.DiscardHandler)}
	if mode == "one-rule" {
		ch, err := st.ChannelCreate(ctx, &storage.ChannelCreateParams{
			Name: planName(), Kind: storage.ChannelWebhook, URL: "http://127.0.0.1:1/hook",
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.AlertRuleCreate(ctx, &storage.AlertRuleCreateParams{
			ChannelIDs: []uuid.UUID{ch.ID}, OnFailure: true, OnRecovery: true,
		}); err != nil {
			b.Fatal(err)
		}
	}
	// Running executions to finish, each of its own plan, made before the
	// clock starts.
	execs := make([]*storage.Execution, b.N)
	for i := range execs {
		p, err := st.PlanCreate(ctx, &storage.PlanCreateParams{Name: planName(), Document: benchDoc})
		if err != nil {
			b.Fatal(err)
		}
		e, err := st.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: p.Revision})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionRunning}); err != nil {
			b.Fatal(err)
		}
		execs[i] = e
	}
	result := []byte(`{"status":"passed","steps":[{"name":"s","status":"passed","attempts":1,"duration_ms":1}],"plan_revision":1}`)
	b.ReportAllocs()
	b.ResetTimer()
	for _, e := range execs {
		p := &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionPassed, Result: result}
		var err error
		if mode == "status" {
			_, err = st.ExecutionSetStatus(ctx, p)
		} else {
			err = st.InTx(ctx, func(tx storage.Store) error {
				done, err := tx.ExecutionSetStatus(ctx, p)
				if err != nil {
					return err
				}
				return eval.ExecutionFinished(ctx, tx, done)
			})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
