package alert_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/tracing"
)

// TestDeliveriesCarryTheTraceContextOfTheFinishingRun checks that the
// delivery jobs that a traced run enqueues as it finishes carry the run's
// trace context, so that their spans link to it, and that an untraced run
// stores none.
func TestDeliveriesCarryTheTraceContextOfTheFinishingRun(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
		f.rule(t, storage.AlertRuleCreateParams{EveryFailure: true}, ch)

		f.finish(t, failed, failedResult)
		ds := f.deliveries(t)
		require.Len(t, ds, 1)
		assert.Empty(t, ds[0].job.TraceContext, "an untraced run stores none")

		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
		ctx, span := tp.Tracer("test").Start(t.Context(), "execution")
		defer span.End()
		x := f.run(t)
		require.NoError(t, st.InTx(ctx, func(tx storage.Store) error {
			e, err := tx.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: x.ID, Status: failed, Result: failedResult})
			if err != nil {
				return err
			}
			return f.eval.ExecutionFinished(ctx, tx, e)
		}))
		ds = f.deliveries(t)
		require.Len(t, ds, 2)
		sc := tracing.SpanContext(ds[1].job.TraceContext)
		assert.Equal(t, span.SpanContext().TraceID(), sc.TraceID(), "the run's trace")
		assert.Equal(t, span.SpanContext().SpanID(), sc.SpanID())
	})
}
