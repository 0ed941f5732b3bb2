-- +goose Up
-- Tells listening workers on every node that a running job was asked to
-- cancel, so that its worker stops it now rather than at its next
-- heartbeat. It shares the enqueue channel, with its own payload; the WHEN
-- clause keeps it out of every other update of a job.
-- +goose StatementBegin
CREATE FUNCTION jobs_cancel_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('astro_jobs', 'cancel');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER jobs_cancel_notify AFTER UPDATE OF cancel_requested ON jobs
    FOR EACH ROW WHEN (NEW.cancel_requested AND NOT OLD.cancel_requested)
    EXECUTE FUNCTION jobs_cancel_notify();

-- +goose Down
DROP TRIGGER jobs_cancel_notify ON jobs;
DROP FUNCTION jobs_cancel_notify();
