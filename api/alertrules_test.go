package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// createRule creates an alert rule through the API and returns it.
func (e *testEnv) createRule(body map[string]any) AlertRule {
	e.t.Helper()
	return created[AlertRule](e, "/alert-rule", body)
}

// ruleCount returns how many alert rules the store holds.
func (e *testEnv) ruleCount() int {
	e.t.Helper()
	page, err := e.raw.AlertRuleList(context.Background(), &storage.AlertRuleListParams{Limit: storage.MaxPageLimit})
	require.NoError(e.t, err)
	return len(page.Rules)
}

// storedRule reads a rule straight from the store.
func (e *testEnv) storedRule(id uuid.UUID) *storage.AlertRule {
	e.t.Helper()
	r, err := e.raw.AlertRuleGetByID(context.Background(), id)
	require.NoError(e.t, err)
	return r
}

func TestAlertRuleLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("watched", nil)
	sc := e.createSchedule(p.ID, map[string]any{"cron": "@hourly"})
	a := e.createChannel(slackBody("a"))
	b := e.createChannel(slackBody("b"))

	res := e.request(http.MethodPost, "/alert-rule", map[string]any{
		"name": "checkout is down", "plan_id": p.ID, "channels": []uuid.UUID{b.ID, a.ID},
	})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))
	var r AlertRule
	res.decode(t, &r)
	assert.Equal(t, "/alert-rule/"+r.ID.String(), res.Header.Get("Location"))
	assert.Equal(t, "checkout is down", r.Name)
	require.NotNil(t, r.PlanID)
	assert.Equal(t, p.ID, *r.PlanID)
	assert.Nil(t, r.ScheduleID)
	assert.Equal(t, []uuid.UUID{b.ID, a.ID}, r.Channels, "in the order given")
	assert.True(t, r.OnFailure, "on_failure defaults to true")
	assert.True(t, r.OnRecovery, "on_recovery defaults to true")
	assert.Zero(t, r.AfterConsecutiveFailures)
	assert.False(t, r.EveryFailure)
	assert.Equal(t, int64(1), r.Revision)
	var raw map[string]json.RawMessage
	res.decode(t, &raw)
	assert.Equal(t, "null", string(raw["schedule_id"]), "schedule_id is sent as null")

	res = e.request(http.MethodGet, "/alert-rule/"+r.ID.String(), nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))
	var got AlertRule
	res.decode(t, &got)
	assert.Equal(t, r, got)

	// PUT replaces every field: the plan becomes a schedule, left-out
	// fields take their defaults.
	put := map[string]any{"schedule_id": sc.ID, "channels": []uuid.UUID{a.ID}, "on_recovery": false, "after_consecutive_failures": 3}
	res = e.request(http.MethodPut, "/alert-rule/"+r.ID.String(), put)
	assert.Equal(t, http.StatusPreconditionRequired, res.Status, "no If-Match")
	res = e.request(http.MethodPut, "/alert-rule/"+r.ID.String(), put, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	assert.Equal(t, `"2"`, res.Header.Get("ETag"))
	var up AlertRule
	res.decode(t, &up)
	assert.Empty(t, up.Name)
	assert.Nil(t, up.PlanID)
	require.NotNil(t, up.ScheduleID)
	assert.Equal(t, sc.ID, *up.ScheduleID)
	assert.Equal(t, []uuid.UUID{a.ID}, up.Channels)
	assert.True(t, up.OnFailure)
	assert.False(t, up.OnRecovery, "an explicit false is kept")
	assert.Equal(t, 3, up.AfterConsecutiveFailures)
	st := e.storedRule(r.ID)
	assert.Equal(t, uuid.Nil, st.PlanID)
	assert.Equal(t, sc.ID, st.ScheduleID)
	assert.False(t, st.OnRecovery)

	res = e.request(http.MethodPut, "/alert-rule/"+r.ID.String(), put, "If-Match", `"1"`)
	assert.Equal(t, http.StatusPreconditionFailed, res.Status, "stale")
	assert.Contains(t, res.problem(t).Detail, "no longer at revision 1")
	res = e.request(http.MethodPut, "/alert-rule/"+uuid.NewString(), put, "If-Match", `"1"`)
	assert.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no alert rule has id")

	// A rule for every plan: null plan and schedule are accepted.
	all := e.createRule(map[string]any{"plan_id": nil, "schedule_id": nil, "channels": []uuid.UUID{a.ID}, "every_failure": true, "on_failure": false})
	assert.Nil(t, all.PlanID)
	assert.Nil(t, all.ScheduleID)
	assert.False(t, all.OnFailure)
	assert.True(t, all.EveryFailure)

	res = e.request(http.MethodDelete, "/alert-rule/"+r.ID.String(), nil)
	assert.Equal(t, http.StatusNoContent, res.Status)
	res = e.request(http.MethodGet, "/alert-rule/"+r.ID.String(), nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
	res = e.request(http.MethodDelete, "/alert-rule/"+r.ID.String(), nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
	assert.Equal(t, 1, e.ruleCount())
}

func TestCreateAlertRuleRejectsBadFieldsAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("p", nil)
	sc := e.createSchedule(p.ID, map[string]any{"cron": "@hourly"})
	c := e.createChannel(slackBody("c"))
	unknown := uuid.MustParse("0190c1f2-5f60-7172-9c80-000000000000")
	many := make([]uuid.UUID, 21)
	for i := range many {
		many[i] = uuid.New()
	}
	tests := []struct {
		name     string
		body     map[string]any
		location string
		message  string
	}{
		{"PlanAndSchedule", map[string]any{"plan_id": p.ID, "schedule_id": sc.ID, "channels": []uuid.UUID{c.ID}}, "body.schedule_id", "not both"},
		{"UnknownPlan", map[string]any{"plan_id": unknown, "channels": []uuid.UUID{c.ID}}, "body.plan_id", "no plan has id " + unknown.String()},
		{"UnknownSchedule", map[string]any{"schedule_id": unknown, "channels": []uuid.UUID{c.ID}}, "body.schedule_id", "no schedule has id " + unknown.String()},
		{"UnknownChannel", map[string]any{"channels": []uuid.UUID{c.ID, unknown}}, "body.channels[1]", "no channel has id " + unknown.String()},
		// The nil UUID names no plan or schedule: it must not make a rule
		// that watches every plan.
		{"NilPlan", map[string]any{"plan_id": uuid.Nil, "channels": []uuid.UUID{c.ID}}, "body.plan_id", "no plan has id " + uuid.Nil.String()},
		{"NilSchedule", map[string]any{"schedule_id": uuid.Nil, "channels": []uuid.UUID{c.ID}}, "body.schedule_id", "no schedule has id " + uuid.Nil.String()},
		{"NoChannel", map[string]any{"channels": []uuid.UUID{}}, "body.channels", ""},
		{"MissingChannels", map[string]any{"plan_id": p.ID}, "body", "channels"},
		{"TooManyChannels", map[string]any{"channels": many}, "body.channels", ""},
		{"DuplicateChannel", map[string]any{"channels": []uuid.UUID{c.ID, c.ID}}, "body.channels", ""},
		{"BadChannelID", map[string]any{"channels": []string{"nope"}}, "body.channels[0]", ""},
		{"CouldNeverSend", map[string]any{"channels": []uuid.UUID{c.ID}, "on_failure": false, "on_recovery": false}, "body", "could never send"},
		{"CouldNeverSendExplicit", map[string]any{"channels": []uuid.UUID{c.ID}, "on_failure": false, "on_recovery": false, "every_failure": false, "after_consecutive_failures": 0}, "body", "could never send"},
		{"ThresholdTooHigh", map[string]any{"channels": []uuid.UUID{c.ID}, "after_consecutive_failures": 101}, "body.after_consecutive_failures", ""},
		{"ThresholdNegative", map[string]any{"channels": []uuid.UUID{c.ID}, "after_consecutive_failures": -1}, "body.after_consecutive_failures", ""},
		{"NameTooLong", map[string]any{"channels": []uuid.UUID{c.ID}, "name": strings.Repeat("n", 101)}, "body.name", ""},
		{"NameWithNUL", map[string]any{"channels": []uuid.UUID{c.ID}, "name": "a\x00b"}, "body.name", "NUL"},
		{"UnknownField", map[string]any{"channels": []uuid.UUID{c.ID}, "on_fail": true}, "body.on_fail", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.request(http.MethodPost, "/alert-rule", tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
			pd := res.problem(t)
			require.Contains(t, pd.locations(), tt.location, "body: %s", res.Body)
			for _, d := range pd.Errors {
				if d.Location == tt.location {
					assert.Contains(t, d.Message, tt.message)
				}
			}
		})
	}
	assert.Zero(t, e.ruleCount())

	// Every missing reference is named at once.
	res := e.request(http.MethodPost, "/alert-rule", map[string]any{"plan_id": unknown, "channels": []uuid.UUID{unknown, c.ID, uuid.New()}})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	assert.ElementsMatch(t, []string{"body.plan_id", "body.channels[0]", "body.channels[2]"}, res.problem(t).locations())

	// Any one way of sending makes a valid rule.
	for _, body := range []map[string]any{
		{"on_failure": false, "on_recovery": true},
		{"on_failure": true, "on_recovery": false},
		{"on_failure": false, "on_recovery": false, "every_failure": true},
		{"on_failure": false, "on_recovery": false, "after_consecutive_failures": 1},
		{"after_consecutive_failures": 100},
	} {
		body["channels"] = []uuid.UUID{c.ID}
		e.createRule(body)
	}
	assert.Equal(t, 5, e.ruleCount())
}

func TestUpdateAlertRuleRejectsBadFieldsAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("p", nil)
	c := e.createChannel(slackBody("c"))
	r := e.createRule(map[string]any{"plan_id": p.ID, "channels": []uuid.UUID{c.ID}})
	path := "/alert-rule/" + r.ID.String()
	for _, body := range []map[string]any{
		{"plan_id": p.ID, "channels": []uuid.UUID{c.ID, uuid.New()}},
		{"plan_id": uuid.New(), "channels": []uuid.UUID{c.ID}},
		{"schedule_id": uuid.New(), "channels": []uuid.UUID{c.ID}},
		{"plan_id": p.ID, "channels": []uuid.UUID{c.ID}, "on_failure": false, "on_recovery": false},
		{"plan_id": uuid.Nil, "channels": []uuid.UUID{c.ID}},
		{"schedule_id": uuid.Nil, "channels": []uuid.UUID{c.ID}},
	} {
		res := e.request(http.MethodPut, path, body, "If-Match", `"1"`)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	}
	st := e.storedRule(r.ID)
	assert.Equal(t, int64(1), st.Revision)
	assert.Equal(t, p.ID, st.PlanID)
	assert.Equal(t, []uuid.UUID{c.ID}, st.ChannelIDs)
}

func TestListAlertRulesFiltersAndFollowsLinkHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("p", nil)
	q := e.createPlan("q", nil)
	sc := e.createSchedule(q.ID, map[string]any{"cron": "@hourly"})
	a := e.createChannel(slackBody("a"))
	b := e.createChannel(slackBody("b"))
	var ofP, ofB, everything []uuid.UUID
	for i := range 5 {
		r := e.createRule(map[string]any{"name": fmt.Sprint("p", i), "plan_id": p.ID, "channels": []uuid.UUID{a.ID}})
		ofP = append(ofP, r.ID)
		everything = append(everything, r.ID)
		channels := []uuid.UUID{a.ID}
		if i%2 == 0 {
			channels = []uuid.UUID{a.ID, b.ID}
		}
		r = e.createRule(map[string]any{"name": fmt.Sprint("s", i), "schedule_id": sc.ID, "channels": channels})
		everything = append(everything, r.ID)
		if i%2 == 0 {
			ofB = append(ofB, r.ID)
		}
	}
	all := e.createRule(map[string]any{"channels": []uuid.UUID{b.ID}})
	everything = append(everything, all.ID)
	ofB = append(ofB, all.ID)

	collect := func(path string) []uuid.UUID {
		t.Helper()
		var ids []uuid.UUID
		for pages := 0; path != ""; pages++ {
			require.Less(t, pages, 20)
			res := e.request(http.MethodGet, path, nil)
			require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
			var page AlertRuleList
			res.decode(t, &page)
			for _, r := range page.Rules {
				ids = append(ids, r.ID)
			}
			path = nextPath(res)
		}
		return ids
	}
	assert.Equal(t, everything, collect("/alert-rule?limit=3"), "oldest first")
	assert.Equal(t, ofP, collect("/alert-rule?limit=2&plan_id="+p.ID.String()), "rules of one plan, not those of every plan")
	assert.Len(t, collect("/alert-rule?limit=2&schedule_id="+sc.ID.String()), 5)
	assert.Equal(t, ofB, collect("/alert-rule?limit=2&channel_id="+b.ID.String()))
	assert.Empty(t, collect("/alert-rule?plan_id="+q.ID.String()), "a schedule's rules are not its plan's")

	res := e.request(http.MethodGet, "/alert-rule?limit=2&channel_id="+b.ID.String(), nil)
	assert.Contains(t, nextPath(res), "channel_id="+b.ID.String(), "the Link keeps the filter")
	res = e.request(http.MethodGet, "/alert-rule?cursor=junk", nil)
	assert.Equal(t, http.StatusBadRequest, res.Status)
	res = e.request(http.MethodGet, "/alert-rule?plan_id=nope", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, res.Status)
}
