// Package schedule runs plans on their schedules. Spec parses and
// evaluates a schedule's cron expression in its time zone; Scheduler, run
// on every node with no leader, turns each due tick of a schedule into
// exactly one execution and its job.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// DefaultMinInterval is the default of the shortest gap allowed between
// two ticks of a schedule (ASTRO_SCHEDULE_MIN_INTERVAL).
const DefaultMinInterval = 10 * time.Second

// intervalSamples is how many consecutive ticks MinGap looks at.
const intervalSamples = 100

// parser reads standard 5-field cron expressions and the descriptors
// @yearly, @monthly, @weekly, @daily, @hourly and @every <duration>.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// FieldError is a problem with one field of a schedule.
type FieldError struct {
	// Field is the field's JSON name: cron or timezone.
	Field string
	// Message says what is wrong.
	Message string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Spec is a parsed cron expression and the time zone it is evaluated in.
type Spec struct {
	sched cron.Schedule
	loc   *time.Location
}

// Parse parses expr in the IANA time zone tz ("" is UTC). Returns a
// *FieldError naming cron or timezone.
func Parse(expr, tz string) (*Spec, error) {
	if tz == "" {
		tz = "UTC"
	}
	// time.LoadLocation takes "Local" and "" as the machine's zone, which
	// would make a schedule depend on the node that runs it.
	if tz == "Local" {
		return nil, &FieldError{Field: "timezone", Message: `"Local" is not allowed: name an IANA time zone such as Europe/Paris or UTC`}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, &FieldError{Field: "timezone", Message: fmt.Sprintf("unknown time zone %q: use an IANA name such as Europe/Paris or UTC", tz)}
	}
	trimmed := strings.TrimSpace(expr)
	if strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=") {
		return nil, &FieldError{Field: "cron", Message: "a time zone prefix is not allowed in the expression: set the timezone field instead"}
	}
	sched, err := parser.Parse(trimmed)
	if err != nil {
		return nil, &FieldError{Field: "cron", Message: fmt.Sprintf("%s; expected 5 fields (minute hour day-of-month month day-of-week), "+
			"or @every <duration>, @hourly, @daily, @weekly, @monthly, @yearly", err)}
	}
	return &Spec{sched: sched, loc: loc}, nil
}

// Next returns the first tick strictly after t, in UTC. Cron fields are
// evaluated in the spec's time zone, by the cron library's rules across
// daylight-saving changes (robfig/cron v3.0.1): a wall time skipped by a
// spring-forward does not fire that day, and a wall time repeated by a
// fall-back fires twice, once at each offset. It
// returns the zero time if the expression never fires (such as 30 Feb).
func (s *Spec) Next(t time.Time) time.Time {
	n := s.sched.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// MinGap returns the shortest gap between consecutive ticks: the delay
// of @every, or else the shortest of the gaps between the next 100 ticks
// after from. It returns 0 if the expression never fires.
func (s *Spec) MinGap(from time.Time) time.Duration {
	if every, ok := s.sched.(cron.ConstantDelaySchedule); ok {
		return every.Delay
	}
	prev := s.Next(from)
	if prev.IsZero() {
		return 0
	}
	var gap time.Duration
	for range intervalSamples {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		if d := next.Sub(prev); gap == 0 || d < gap {
			gap = d
		}
		prev = next
	}
	return gap
}

// Check parses expr in tz and checks that it fires, and no more often than
// once per minInterval, looking from now. Returns a *FieldError naming
// cron or timezone.
func Check(expr, tz string, minInterval time.Duration, now time.Time) (*Spec, error) {
	s, err := Parse(expr, tz)
	if err != nil {
		return nil, err
	}
	if s.Next(now).IsZero() {
		return nil, &FieldError{Field: "cron", Message: "the expression never fires"}
	}
	if gap := s.MinGap(now); gap > 0 && gap < minInterval {
		return nil, &FieldError{Field: "cron", Message: fmt.Sprintf(
			"fires every %s, more often than the server allows (ASTRO_SCHEDULE_MIN_INTERVAL=%s)", gap, minInterval)}
	}
	return s, nil
}
