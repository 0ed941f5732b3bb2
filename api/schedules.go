package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/schedule"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// maxScheduleBodyBytes caps the request body of create-schedule and
// update-schedule, like execute-plan's.
const maxScheduleBodyBytes = 1 << 20

// ScheduleBody is what a schedule runs and when: the body of
// create-schedule and update-schedule.
type ScheduleBody struct {
	Cron        string    `json:"cron" minLength:"1" maxLength:"200" doc:"When to run: a standard 5-field cron expression (minute hour day-of-month month day-of-week), or @every <duration> (such as @every 30s or @every 5m), @hourly, @daily, @weekly, @monthly or @yearly. Ticks closer together than the server's ASTRO_SCHEDULE_MIN_INTERVAL (default 10s) are refused (422)." example:"*/5 * * * *"`
	Timezone    string    `json:"timezone,omitempty" maxLength:"100" doc:"IANA time zone that the cron fields are read in, such as Europe/Paris. Defaults to UTC. Across daylight-saving changes, a wall time that is skipped does not fire that day, and one that is repeated fires at both offsets (the rules of robfig/cron v3)." example:"Europe/Paris"`
	Variables   Variables `json:"variables,omitempty" doc:"Values for variables that the plan declares, given to every execution, over the plan's and the environment's. A name the plan does not declare is refused (422)." example:"{\"base_url\":\"https://eu.example.com\"}"`
	Environment string    `json:"environment,omitempty" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$" maxLength:"63" doc:"Name of an environment that every execution runs with; it must exist (422). Its variables are read when each run starts." example:"staging"`
	Queue       string    `json:"queue,omitempty" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$" maxLength:"63" doc:"Queue of every execution: only workers serving it (ASTRO_QUEUES) run them. Defaults to default." example:"eu"`
	Overlap     string    `json:"overlap,omitempty" enum:"skip,allow" doc:"What a tick does while the schedule's previous execution is still queued or running: skip (the default) creates nothing and waits for the next tick; allow creates the execution anyway." example:"skip"`
}

// Resolve checks what the schema cannot: the variables' names and values.
func (b *ScheduleBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	return b.Variables.check(prefix.With("variables"))
}

// Schedule is a stored schedule and its state.
type Schedule struct {
	ID              uuid.UUID         `json:"id" format:"uuid" doc:"Identity of the schedule." example:"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
	PlanID          uuid.UUID         `json:"plan_id" format:"uuid" doc:"Identity of the plan it runs." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Cron            string            `json:"cron" doc:"When it runs: a 5-field cron expression or a descriptor such as @every 30s or @hourly." example:"*/5 * * * *"`
	Timezone        string            `json:"timezone" doc:"IANA time zone that the cron fields are read in." example:"Europe/Paris"`
	Variables       map[string]string `json:"variables" doc:"Variables given to every execution; {} when none." example:"{\"base_url\":\"https://eu.example.com\"}"`
	Environment     *string           `json:"environment" doc:"Name of the environment every execution runs with, or null." example:"staging"`
	Queue           string            `json:"queue" doc:"Queue of every execution." example:"default"`
	Overlap         string            `json:"overlap" enum:"skip,allow" doc:"skip: a tick creates nothing while the previous execution is queued or running. allow: it creates one anyway." example:"skip"`
	Paused          bool              `json:"paused" doc:"Whether the schedule is paused: a paused schedule creates no executions. Pausing leaves executions already queued alone." example:"false"`
	NextRunAt       time.Time         `json:"next_run_at" doc:"When the schedule is next due. While paused, the tick it will not fire; resuming computes it again from the time of resuming." example:"2025-01-02T15:05:00Z"`
	LastRunAt       *time.Time        `json:"last_run_at" doc:"The tick of the schedule's last execution, or null if it has created none." example:"2025-01-02T15:00:00Z"`
	LastExecutionID *uuid.UUID        `json:"last_execution_id" format:"uuid" nullable:"true" doc:"The schedule's last execution, for GET /execution/{id}, or null if it has created none. GET /execution?schedule_id= lists them all." example:"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	Revision        int64             `json:"revision" doc:"Revision of the schedule: 1 when created, bumped by every update, pause and resume (not by its runs). The ETag header carries it." example:"1"`
	CreatedAt       time.Time         `json:"created_at" doc:"When the schedule was created." example:"2025-01-02T15:04:05Z"`
	UpdatedAt       time.Time         `json:"updated_at" doc:"When the schedule was last changed by a request." example:"2025-01-02T15:04:05Z"`
}

// ScheduleList is one page of schedules.
type ScheduleList struct {
	Schedules  []Schedule `json:"schedules" nullable:"false" doc:"The schedules of this page, oldest first." example:"[]"`
	NextCursor string     `json:"next_cursor" doc:"Cursor of the next page, to pass as ?cursor=. Empty on the last page." example:"eyJsIjoic2NoZWR1bGVzIiwiaSI6IjAxOTBjMWUwLTJjM2QtN2U0Zi04YTUwLTZiN2M4ZDllMGYxYSJ9"`
}

type createScheduleInput struct {
	PlanID uuid.UUID `path:"id" format:"uuid" doc:"Identity of the plan to run." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Body   ScheduleBody
}

type createScheduleOutput struct {
	Location string `header:"Location" doc:"Path of the new schedule." example:"/schedule/0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
	ETag     string `header:"ETag" doc:"Revision of the schedule as an entity tag. Send it in If-Match to update the schedule." example:"\"1\""`
	Body     Schedule
}

type scheduleIDInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"Identity of the schedule." example:"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
}

type scheduleOutput struct {
	ETag string `header:"ETag" doc:"Revision of the schedule as an entity tag. Send it in If-Match to update the schedule." example:"\"2\""`
	Body Schedule
}

type listSchedulesInput struct {
	PlanID uuid.UUID `query:"plan_id" format:"uuid" doc:"Keep the schedules of this plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Limit  int       `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Largest number of schedules to return." example:"50"`
	Cursor string    `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page. Empty for the first page." example:"eyJsIjoic2NoZWR1bGVzIiwiaSI6IjAxOTBjMWUwLTJjM2QtN2U0Zi04YTUwLTZiN2M4ZDllMGYxYSJ9"`
}

type listSchedulesOutput struct {
	Link []string `header:"Link" doc:"Link to the next page, with rel=\"next\", when there is one." example:"</schedule?cursor=eyJsIjoic2NoZWR1bGVzIiwiaSI6IjAxOTBjMWUwLTJjM2QtN2U0Zi04YTUwLTZiN2M4ZDllMGYxYSJ9&limit=50>; rel=\"next\""`
	Body ScheduleList
}

type updateScheduleInput struct {
	ID      uuid.UUID `path:"id" format:"uuid" doc:"Identity of the schedule." example:"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
	IfMatch string    `header:"If-Match" doc:"The schedule's current ETag, from a previous read. Required: the update fails with 412 if the schedule changed since." example:"\"1\""`
	Body    ScheduleBody
}

// registerSchedules adds the schedule operations.
func (s *server) registerSchedules(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-schedule",
		Method:      http.MethodPost,
		Path:        "/plan/{id}/schedule",
		Summary:     "Schedule a plan",
		Description: "Stores a schedule that runs the plan on a cron expression, in a time zone, and returns it at revision 1 " +
			"with its first next_run_at. Every node's scheduler fires due schedules; each tick creates exactly one execution " +
			"(trigger schedule), however many nodes run. The variables, environment and queue are checked like those of " +
			"POST /plan/{id}/execute (422 naming the field). The body may be at most 1 MiB (413).",
		Tags:          []string{tagSchedules},
		Security:      secured,
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  maxScheduleBodyBytes,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound,
			http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable},
	}, s.createSchedule)

	huma.Register(api, huma.Operation{
		OperationID: "list-schedules",
		Method:      http.MethodGet,
		Path:        "/schedule",
		Summary:     "List schedules",
		Description: "Returns one page of schedules, oldest first, optionally those of one plan. " +
			"Follow next_cursor, or the Link header with rel=\"next\", for the next page. A malformed cursor gives 400.",
		Tags:     []string{tagSchedules},
		Security: secured,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.listSchedules)

	huma.Register(api, huma.Operation{
		OperationID: "get-schedule",
		Method:      http.MethodGet,
		Path:        "/schedule/{id}",
		Summary:     "Get a schedule",
		Description: "Returns one schedule with its next_run_at, last_run_at and last_execution_id, and its revision in the ETag header.",
		Tags:        []string{tagSchedules},
		Security:    secured,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.getSchedule)

	huma.Register(api, huma.Operation{
		OperationID: "update-schedule",
		Method:      http.MethodPut,
		Path:        "/schedule/{id}",
		Summary:     "Replace a schedule",
		Description: "Replaces what a schedule runs and when, computes next_run_at again from now, and bumps its revision. " +
			"The plan and the paused state do not change. If-Match must carry the ETag of the revision being replaced, " +
			"quoted (\"3\") or bare (3): without it the answer is 428, and if the schedule changed since, 412. " +
			"A weak tag (W/\"3\") never matches and also gives 412. The body may be at most 1 MiB (413).",
		Tags:         []string{tagSchedules},
		Security:     secured,
		MaxBodyBytes: maxScheduleBodyBytes,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusPreconditionFailed,
			http.StatusRequestEntityTooLarge, http.StatusPreconditionRequired, http.StatusServiceUnavailable},
	}, s.updateSchedule)

	huma.Register(api, huma.Operation{
		OperationID:   "delete-schedule",
		Method:        http.MethodDelete,
		Path:          "/schedule/{id}",
		Summary:       "Delete a schedule",
		Description:   "Deletes a schedule. Its executions are kept and keep their schedule_id; those already queued still run.",
		Tags:          []string{tagSchedules},
		Security:      secured,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.deleteSchedule)

	huma.Register(api, huma.Operation{
		OperationID: "pause-schedule",
		Method:      http.MethodPost,
		Path:        "/schedule/{id}/pause",
		Summary:     "Pause a schedule",
		Description: "Stops the schedule from creating executions, and bumps its revision. Executions already queued or running " +
			"are left alone. Pausing a paused schedule changes nothing but the revision.",
		Tags:     []string{tagSchedules},
		Security: secured,
		Errors:   []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.pauseSchedule)

	huma.Register(api, huma.Operation{
		OperationID: "resume-schedule",
		Method:      http.MethodPost,
		Path:        "/schedule/{id}/resume",
		Summary:     "Resume a schedule",
		Description: "Lets a paused schedule create executions again, from its first tick after now: ticks missed while it " +
			"was paused are not run. Bumps its revision. A stored cron expression or time zone that no longer parses " +
			"answers 422 naming it.",
		Tags:     []string{tagSchedules},
		Security: secured,
		Errors: []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity,
			http.StatusServiceUnavailable},
	}, s.resumeSchedule)
}

// scheduleFromStorage returns the API form of a stored schedule.
func scheduleFromStorage(sc *storage.Schedule) Schedule {
	out := Schedule{
		ID: sc.ID, PlanID: sc.PlanID, Cron: sc.Cron, Timezone: sc.Timezone, Variables: sc.Variables,
		Queue: sc.Queue, Overlap: string(sc.Overlap), Paused: sc.Paused, NextRunAt: sc.NextRunAt,
		LastRunAt: sc.LastRunAt, Revision: sc.Revision, CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt,
	}
	if out.Variables == nil {
		out.Variables = map[string]string{}
	}
	if sc.Environment != "" {
		env := sc.Environment
		out.Environment = &env
	}
	if sc.LastExecutionID != uuid.Nil {
		id := sc.LastExecutionID
		out.LastExecutionID = &id
	}
	return out
}

// noSchedule is the 404 text for an unknown schedule.
func noSchedule(id uuid.UUID) string { return fmt.Sprintf("no schedule has id %s", id) }

// minScheduleInterval is the shortest gap allowed between two ticks.
func (s *server) minScheduleInterval() time.Duration {
	if s.deps.ScheduleMinInterval > 0 {
		return s.deps.ScheduleMinInterval
	}
	return schedule.DefaultMinInterval
}

// checkSchedule checks body against plan p in tx, like an execute-plan
// body, and returns the schedule's first tick after now. Returns a 422
// naming the field at fault.
func (s *server) checkSchedule(ctx context.Context, tx storage.Store, p *storage.Plan, body *ScheduleBody) (time.Time, error) {
	now := time.Now()
	spec, err := schedule.Check(body.Cron, body.Timezone, s.minScheduleInterval(), now)
	if err != nil {
		var fe *schedule.FieldError
		if errors.As(err, &fe) {
			value := body.Cron
			if fe.Field == "timezone" {
				value = body.Timezone
			}
			return time.Time{}, huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
				Location: "body." + fe.Field, Message: fe.Message, Value: value,
			})
		}
		return time.Time{}, err
	}
	run := &ExecuteBody{Variables: body.Variables, Environment: body.Environment, Queue: body.Queue}
	if err := s.checkRunInputs(ctx, tx, p, run); err != nil {
		return time.Time{}, err
	}
	return spec.Next(now), nil
}

func (s *server) createSchedule(ctx context.Context, in *createScheduleInput) (*createScheduleOutput, error) {
	var sc *storage.Schedule
	err := s.deps.Store.InTx(ctx, func(tx storage.Store) error {
		p, err := tx.PlanGetByID(ctx, in.PlanID)
		if err != nil {
			return fmt.Errorf("create schedule: %w", err)
		}
		next, err := s.checkSchedule(ctx, tx, p, &in.Body)
		if err != nil {
			return err
		}
		sc, err = tx.ScheduleCreate(ctx, &storage.ScheduleCreateParams{
			PlanID: p.ID, Cron: in.Body.Cron, Timezone: in.Body.Timezone, Variables: in.Body.Variables,
			Environment: in.Body.Environment, Queue: in.Body.Queue, Overlap: storage.ScheduleOverlap(in.Body.Overlap),
			NextRunAt: next,
		})
		return err
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: fmt.Sprintf("no plan has id %s", in.PlanID)}))
	}
	return &createScheduleOutput{
		Location: "/schedule/" + sc.ID.String(), ETag: etag(sc.Revision), Body: scheduleFromStorage(sc),
	}, nil
}

func (s *server) getSchedule(ctx context.Context, in *scheduleIDInput) (*scheduleOutput, error) {
	sc, err := s.deps.Store.ScheduleGetByID(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noSchedule(in.ID)}))
	}
	return &scheduleOutput{ETag: etag(sc.Revision), Body: scheduleFromStorage(sc)}, nil
}

func (s *server) listSchedules(ctx context.Context, in *listSchedulesInput) (*listSchedulesOutput, error) {
	page, err := s.deps.Store.ScheduleList(ctx, &storage.ScheduleListParams{PlanID: in.PlanID, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, badCursor(in.Cursor)))
	}
	out := &listSchedulesOutput{Body: ScheduleList{
		Schedules:  make([]Schedule, 0, len(page.Schedules)),
		NextCursor: page.NextCursor,
	}}
	for _, sc := range page.Schedules {
		out.Body.Schedules = append(out.Body.Schedules, scheduleFromStorage(sc))
	}
	q := url.Values{}
	if in.PlanID != uuid.Nil {
		q.Set("plan_id", in.PlanID.String())
	}
	out.Link = nextLink("/schedule", q, in.Limit, page.NextCursor)
	return out, nil
}

func (s *server) updateSchedule(ctx context.Context, in *updateScheduleInput) (*scheduleOutput, error) {
	rev, err := parseIfMatch(in.IfMatch, "schedule")
	if err != nil {
		return nil, err
	}
	var sc *storage.Schedule
	err = s.deps.Store.InTx(ctx, func(tx storage.Store) error {
		cur, err := tx.ScheduleGetByID(ctx, in.ID)
		if err != nil {
			return err
		}
		if cur.Revision != rev {
			return storage.ErrStaleRevision
		}
		p, err := tx.PlanGetByID(ctx, cur.PlanID)
		if err != nil {
			return fmt.Errorf("plan of schedule %s: %w", in.ID, err)
		}
		next, err := s.checkSchedule(ctx, tx, p, &in.Body)
		if err != nil {
			return err
		}
		sc, err = tx.ScheduleUpdate(ctx, &storage.ScheduleUpdateParams{
			ID: in.ID, ExpectedRevision: rev, Cron: in.Body.Cron, Timezone: in.Body.Timezone,
			Variables: in.Body.Variables, Environment: in.Body.Environment, Queue: in.Body.Queue,
			Overlap: storage.ScheduleOverlap(in.Body.Overlap), NextRunAt: next,
		})
		return err
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{
			NotFound: noSchedule(in.ID),
			Stale:    fmt.Sprintf("schedule %s is no longer at revision %d: fetch it again and retry with its new ETag", in.ID, rev),
		}))
	}
	return &scheduleOutput{ETag: etag(sc.Revision), Body: scheduleFromStorage(sc)}, nil
}

func (s *server) deleteSchedule(ctx context.Context, in *scheduleIDInput) (*struct{}, error) {
	if err := s.deps.Store.ScheduleDelete(ctx, in.ID); err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noSchedule(in.ID)}))
	}
	return &struct{}{}, nil
}

func (s *server) pauseSchedule(ctx context.Context, in *scheduleIDInput) (*scheduleOutput, error) {
	return s.setSchedulePaused(ctx, in.ID, true)
}

func (s *server) resumeSchedule(ctx context.Context, in *scheduleIDInput) (*scheduleOutput, error) {
	return s.setSchedulePaused(ctx, in.ID, false)
}

// unparsable answers the resume of a stored schedule whose cron
// expression or time zone no longer parses with a 422 naming the field.
func unparsable(err error) error {
	field := "cron or timezone"
	var fe *schedule.FieldError
	if errors.As(err, &fe) {
		field = fe.Field
	}
	return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
		Location: field,
		Message: fmt.Sprintf("the schedule's %s no longer parses (%v): update the schedule (PUT /schedule/{id}) "+
			"with a valid cron and timezone, then resume it", field, err),
	})
}

// setSchedulePaused pauses or resumes a schedule; resuming computes its
// next tick from now.
func (s *server) setSchedulePaused(ctx context.Context, id uuid.UUID, paused bool) (*scheduleOutput, error) {
	var sc *storage.Schedule
	err := s.deps.Store.InTx(ctx, func(tx storage.Store) error {
		p := &storage.ScheduleSetPausedParams{ID: id, Paused: paused}
		if !paused {
			cur, err := tx.ScheduleGetByID(ctx, id)
			if err != nil {
				return err
			}
			spec, err := schedule.Parse(cur.Cron, cur.Timezone)
			if err != nil {
				return unparsable(err)
			}
			p.NextRunAt = spec.Next(time.Now())
		}
		var err error
		sc, err = tx.ScheduleSetPaused(ctx, p)
		return err
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noSchedule(id)}))
	}
	return &scheduleOutput{ETag: etag(sc.Revision), Body: scheduleFromStorage(sc)}, nil
}
