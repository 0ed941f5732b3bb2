-- +goose Up
-- The W3C traceparent of the span that enqueued the job (such as the API
-- request of POST /plan/{id}/execute), so that the span of the job's run
-- links to it. NULL when tracing was off.
ALTER TABLE jobs ADD COLUMN trace_context TEXT;

-- +goose Down
ALTER TABLE jobs DROP COLUMN trace_context;
