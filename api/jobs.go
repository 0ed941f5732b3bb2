package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/danielgtaylor/huma/v2"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// QueueStats counts the jobs of every queue by state.
type QueueStats struct {
	Queues []QueueStat `json:"queues" nullable:"false" doc:"One entry per queue that holds jobs, by queue name." example:"[{\"queue\":\"default\",\"counts\":{\"available\":3,\"running\":1,\"retryable\":0,\"completed\":120,\"discarded\":2,\"cancelled\":1},\"oldest_available_age_seconds\":1.5,\"pickup_runs\":120,\"pickup_ms\":{\"p50\":12,\"p95\":40.5,\"p99\":95.2}}]"`
}

// QueueStat counts the jobs of one queue by state.
type QueueStat struct {
	Queue                     string               `json:"queue" doc:"Name of the queue." example:"default"`
	Counts                    map[string]int64     `json:"counts" doc:"Number of jobs in each state: available, running, retryable, completed, discarded and cancelled. Every state is present." example:"{\"available\":3,\"running\":1,\"retryable\":0,\"completed\":120,\"discarded\":2,\"cancelled\":1}"`
	OldestAvailableAgeSeconds float64              `json:"oldest_available_age_seconds" doc:"How long the oldest due, unclaimed job has waited, in seconds; 0 if none is waiting." example:"1.5"`
	PickupRuns                int64                `json:"pickup_runs" doc:"How many executions the pick-up latency covers: those of the queue among the server's newest 1,000 executions that have started." example:"120"`
	PickupMS                  *DurationPercentiles `json:"pickup_ms" doc:"Percentiles of how long those executions waited from their creation to their first start (the queue's recent pick-up latency), in milliseconds, interpolated as in the statistics; null when none has started. Jobs that run no execution, such as alert deliveries, are not covered." example:"{\"p50\":12,\"p95\":40.5,\"p99\":95.2}"`
}

// Job is one unit of work in the queue. The fencing token of its lease is
// not shown.
type Job struct {
	ID              int64           `json:"id" doc:"Identity of the job." example:"42"`
	Queue           string          `json:"queue" doc:"Queue the job is in." example:"default"`
	Kind            string          `json:"kind" doc:"What the job does." example:"execute_plan"`
	Payload         json.RawMessage `json:"payload" doc:"The job's arguments, as JSON." example:"{\"execution_id\":\"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f\"}"`
	Priority        int             `json:"priority" doc:"Due jobs of higher priority run first." example:"0"`
	RunAt           time.Time       `json:"run_at" doc:"When the job is due." example:"2025-01-02T15:04:05Z"`
	State           string          `json:"state" enum:"available,running,retryable,completed,discarded,cancelled" doc:"Lifecycle state. completed, discarded and cancelled are final." example:"running"`
	Attempt         int             `json:"attempt" doc:"Number of the current or last attempt; 0 before the first." example:"1"`
	MaxAttempts     int             `json:"max_attempts" doc:"Attempts allowed before the job is discarded." example:"5"`
	LastError       string          `json:"last_error" doc:"The handler's message for the last failed attempt, or empty. Cut to 500 characters; control characters are removed." example:""`
	Errors          []JobError      `json:"errors" nullable:"false" doc:"Failed attempts, oldest first." example:"[]"`
	LeaseOwner      string          `json:"lease_owner" doc:"Worker that holds the job while it runs, or empty." example:"worker-1"`
	LeaseExpiresAt  *time.Time      `json:"lease_expires_at" doc:"When the worker's lease runs out, or null." example:"2025-01-02T15:05:05Z"`
	CancelRequested bool            `json:"cancel_requested" doc:"Whether cancellation was requested while the job ran; its worker stops at its next heartbeat." example:"false"`
	UniqueKey       string          `json:"unique_key" doc:"Key that keeps a second live job with the same key from being enqueued, or empty." example:"execution:0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	CreatedAt       time.Time       `json:"created_at" doc:"When the job was enqueued." example:"2025-01-02T15:04:05Z"`
	FinishedAt      *time.Time      `json:"finished_at" doc:"When the job reached a final state, or null." example:"2025-01-02T15:04:09Z"`
}

// JobError records one failed attempt of a job.
type JobError struct {
	At      time.Time `json:"at" doc:"When the attempt failed." example:"2025-01-02T15:04:07Z"`
	Attempt int       `json:"attempt" doc:"Number of the attempt." example:"1"`
	Error   string    `json:"error" doc:"The handler's message for what went wrong. Cut to 500 characters; control characters are removed." example:"storage unavailable"`
}

type queueStatsOutput struct {
	Body QueueStats
}

type getJobInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Identity of the job." example:"42"`
}

type jobOutput struct {
	Body Job
}

// JobList is one page of jobs.
type JobList struct {
	Jobs       []Job  `json:"jobs" nullable:"false" doc:"The jobs of this page, newest first." example:"[]"`
	NextCursor string `json:"next_cursor" doc:"Cursor of the next page, to pass as ?cursor=. Empty on the last page." example:"eyJsIjoiam9icyIsInMiOjQyfQ"`
}

type listJobsInput struct {
	Queue  string `query:"queue" maxLength:"200" doc:"Keep the jobs of this queue." example:"default"`
	State  string `query:"state" enum:"available,running,retryable,completed,discarded,cancelled" doc:"Keep the jobs in this state." example:"running"`
	Kind   string `query:"kind" maxLength:"200" doc:"Keep the jobs of this kind." example:"execute_plan"`
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50" doc:"Largest number of jobs to return." example:"50"`
	Cursor string `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page. Empty for the first page." example:"eyJsIjoiam9icyIsInMiOjQyfQ"`
}

type listJobsOutput struct {
	Link []string `header:"Link" doc:"Link to the next page, with rel=\"next\", when there is one." example:"</job?cursor=eyJsIjoiam9icyIsInMiOjQyfQ&limit=50>; rel=\"next\""`
	Body JobList
}

// registerJobs adds the queue operations.
func (s *server) registerJobs(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-queue-stats",
		Method:      http.MethodGet,
		Path:        "/queue/stats",
		Summary:     "Get queue statistics",
		Description: "Counts the jobs of every queue by state, and reports how long the oldest waiting job has waited and " +
			"how long the queue's recent executions waited to be picked up.",
		Tags:     []string{tagQueue},
		Security: secured,
		Errors:   []int{http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.getQueueStats)

	huma.Register(api, huma.Operation{
		OperationID: "get-job",
		Method:      http.MethodGet,
		Path:        "/job/{id}",
		Summary:     "Get a job",
		Description: "Returns one job of the queue, with its history of failed attempts.",
		Tags:        []string{tagQueue},
		Security:    secured,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.getJob)

	huma.Register(api, huma.Operation{
		OperationID: "list-jobs",
		Method:      http.MethodGet,
		Path:        "/job",
		Summary:     "List jobs",
		Description: "Returns one page of the queue's jobs, newest first, filtered by queue, state and kind. " +
			"Follow next_cursor, or the Link header with rel=\"next\", for the next page. A malformed cursor gives 400.",
		Tags:     []string{tagQueue},
		Security: secured,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.listJobs)
}

func (s *server) getQueueStats(ctx context.Context, _ *struct{}) (*queueStatsOutput, error) {
	stats, err := s.deps.Store.JobStats(ctx)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	pickups, err := s.deps.Store.ExecutionPickup(ctx)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	pickup := make(map[string]*storage.QueuePickup, len(pickups))
	for _, p := range pickups {
		pickup[p.Queue] = p
	}
	out := &queueStatsOutput{Body: QueueStats{Queues: make([]QueueStat, 0, len(stats))}}
	for _, q := range stats {
		counts := make(map[string]int64, len(storage.JobStates))
		for _, st := range storage.JobStates {
			counts[string(st)] = q.Counts[st]
		}
		qs := QueueStat{
			Queue:                     q.Queue,
			Counts:                    counts,
			OldestAvailableAgeSeconds: q.OldestAvailableAge.Seconds(),
		}
		if p := pickup[q.Queue]; p != nil {
			qs.PickupRuns, qs.PickupMS = p.Runs, percentilesOut(&p.Latency)
		}
		out.Body.Queues = append(out.Body.Queues, qs)
	}
	return out, nil
}

func (s *server) getJob(ctx context.Context, in *getJobInput) (*jobOutput, error) {
	j, err := s.deps.Store.JobGet(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: fmt.Sprintf("no job has id %d", in.ID)}))
	}
	return &jobOutput{Body: jobOut(j)}, nil
}

func (s *server) listJobs(ctx context.Context, in *listJobsInput) (*listJobsOutput, error) {
	if err := checkQueryText("queue", in.Queue); err != nil {
		return nil, err
	}
	if err := checkQueryText("kind", in.Kind); err != nil {
		return nil, err
	}
	page, err := s.deps.Store.JobList(ctx, &storage.JobListParams{
		Queue: in.Queue, State: storage.JobState(in.State), Kind: in.Kind, Limit: in.Limit, Cursor: in.Cursor,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, badCursor(in.Cursor)))
	}
	out := &listJobsOutput{Body: JobList{Jobs: make([]Job, 0, len(page.Jobs)), NextCursor: page.NextCursor}}
	for _, j := range page.Jobs {
		out.Body.Jobs = append(out.Body.Jobs, jobOut(j))
	}
	q := url.Values{}
	for k, v := range map[string]string{"queue": in.Queue, "state": in.State, "kind": in.Kind} {
		if v != "" {
			q.Set(k, v)
		}
	}
	out.Link = nextLink("/job", q, in.Limit, page.NextCursor)
	return out, nil
}

// jobOut returns a stored job as the API shows it.
func jobOut(j *storage.Job) Job {
	out := Job{
		ID:              j.ID,
		Queue:           j.Queue,
		Kind:            j.Kind,
		Payload:         j.Payload,
		Priority:        j.Priority,
		RunAt:           j.RunAt,
		State:           string(j.State),
		Attempt:         j.Attempt,
		MaxAttempts:     j.MaxAttempts,
		LastError:       cleanJobError(j.LastError),
		Errors:          make([]JobError, 0, len(j.Errors)),
		LeaseOwner:      j.LeaseOwner,
		LeaseExpiresAt:  j.LeaseExpiresAt,
		CancelRequested: j.CancelRequested,
		UniqueKey:       j.UniqueKey,
		CreatedAt:       j.CreatedAt,
		FinishedAt:      j.FinishedAt,
	}
	for _, e := range j.Errors {
		out.Errors = append(out.Errors, JobError{At: e.At, Attempt: e.Attempt, Error: cleanJobError(e.Error)})
	}
	return out
}

// maxJobErrorRunes is the longest job error text shown, in characters.
const maxJobErrorRunes = 500

// cleanJobError returns a job's error text as the API shows it. The
// execute_plan handler records messages of its own, but a job's error may
// still hold text it did not write, so, as a second line of defence, the
// text loses its control characters (NUL included; a tab or newline
// becomes a space), invalid UTF-8 becomes U+FFFD, and it is cut to
// maxJobErrorRunes characters, ending with truncatedMark.
func cleanJobError(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return truncateRunes(s, maxJobErrorRunes)
}
