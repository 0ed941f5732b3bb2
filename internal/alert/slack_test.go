package alert

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodedSlack is a Slack message decoded generically, as Slack would.
type decodedSlack struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text *struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"text"`
		Elements []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"elements"`
	} `json:"blocks"`
}

func slackEvent() *Event {
	return &Event{
		Version: Version, Event: EventFailed, DeliveryID: uuid.Must(uuid.NewV7()), CreatedAt: time.Now(),
		Rule: &EventRule{ID: uuid.Must(uuid.NewV7()), Name: "on-call <team>"},
		Plan: EventPlan{ID: uuid.Must(uuid.NewV7()), Name: "Checkout & <pay>", Revision: 2},
		Execution: EventExecution{ID: uuid.Must(uuid.NewV7()), URL: "https://astro.example/execution/0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f?a=1&b=2",
			Status: "failed", Trigger: "schedule", Environment: "staging"},
		ConsecutiveFailures: 3,
		Suppressed:          2,
		FailedSteps: []FailedStep{
			{Index: 1, Name: "Create <order>", Status: "failed", Assertion: &FailedAssertion{
				Kind: "jsonpath_equals", Target: "$.total", Expected: `"10 > 9"`, Actual: "`x`&<y>", Message: "expected a & b"}},
			{Index: 2, Name: "second", Status: "error"},
		},
		MoreFailedSteps: 1,
	}
}

func decodeSlack(t *testing.T, ev *Event) (decodedSlack, string) {
	t.Helper()
	body, err := slackBody(ev)
	require.NoError(t, err)
	var m decodedSlack
	require.NoError(t, json.Unmarshal(body, &m))
	return m, string(body)
}

func TestSlackMessageStructure(t *testing.T) {
	t.Parallel()
	ev := slackEvent()
	m, _ := decodeSlack(t, ev)

	require.GreaterOrEqual(t, len(m.Blocks), 4)
	assert.Equal(t, "header", m.Blocks[0].Type)
	assert.Equal(t, "plain_text", m.Blocks[0].Text.Type)
	assert.Contains(t, m.Blocks[0].Text.Text, "Checkout & <pay> failed", "plain text is not escaped")

	main := m.Blocks[1]
	assert.Equal(t, "section", main.Type)
	assert.Equal(t, "mrkdwn", main.Text.Type)
	assert.Contains(t, main.Text.Text, "*Plan:* Checkout &amp; &lt;pay&gt;")
	assert.Contains(t, main.Text.Text, "failed (3 failures in a row)")
	assert.Contains(t, main.Text.Text, "*Rule:* on-call &lt;team&gt;")
	assert.Contains(t, main.Text.Text,
		"<https://astro.example/execution/0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f?a=1&amp;b=2|Open the execution>")

	step := m.Blocks[2].Text.Text
	assert.Contains(t, step, "*Failing step:* Create &lt;order&gt; (failed)")
	assert.Contains(t, step, "jsonpath_equals $.total")
	assert.Contains(t, step, "*Expected:* `\"10 &gt; 9\"`")
	assert.Contains(t, step, "*Actual:* `ˋxˋ&amp;&lt;y&gt;`", "backticks cannot close the code span")
	assert.Contains(t, step, "_expected a &amp; b_")
	assert.Contains(t, step, "and 2 more failed step(s)")

	ctx := m.Blocks[len(m.Blocks)-1]
	assert.Equal(t, "context", ctx.Type)
	require.Len(t, ctx.Elements, 1)
	assert.Contains(t, ctx.Elements[0].Text, "2 earlier message(s)")
	assert.Contains(t, ctx.Elements[0].Text, ev.DeliveryID.String())

	assert.Contains(t, m.Text, "Checkout &amp; &lt;pay&gt; failed")
	assert.Contains(t, m.Text, "2 held back")

	// No raw < or > survives in mrkdwn other than the link's brackets.
	for _, text := range []string{main.Text.Text, step, m.Text} {
		stripped := strings.Replace(text, "<https://", "", 1)
		stripped = strings.Replace(stripped, "|Open the execution>", "", 1)
		assert.NotContains(t, stripped, "<")
		assert.NotContains(t, stripped, ">")
	}
}

func TestSlackRecoveryAndTest(t *testing.T) {
	t.Parallel()
	ev := slackEvent()
	ev.Event, ev.Execution.Status, ev.FailedSteps, ev.MoreFailedSteps, ev.Suppressed, ev.ConsecutiveFailures = EventRecovered, "passed", nil, 0, 0, 0
	m, _ := decodeSlack(t, ev)
	assert.Contains(t, m.Blocks[0].Text.Text, "recovered")
	for _, b := range m.Blocks {
		if b.Text != nil {
			assert.NotContains(t, b.Text.Text, "Failing step")
		}
		for _, e := range b.Elements {
			assert.NotContains(t, e.Text, "held back")
		}
	}

	sample := sampleEvent(time.Now())
	m, _ = decodeSlack(t, sample)
	assert.Contains(t, m.Blocks[0].Text.Text, "Test message")
	assert.Contains(t, m.Blocks[1].Text.Text, "sample")
	assert.NotContains(t, m.Blocks[1].Text.Text, "Open the execution", "a made-up execution has no link")
}

func TestSlackTextsStayWithinLimits(t *testing.T) {
	t.Parallel()
	ev := slackEvent()
	long := strings.Repeat("&", maxText) // Every character grows to 5 when escaped.
	ev.Plan.Name, ev.Rule.Name, ev.Execution.Environment, ev.Execution.Error = long, long, long, long
	ev.FailedSteps[0].Name, ev.FailedSteps[0].Error = long, long
	a := ev.FailedSteps[0].Assertion
	a.Expected, a.Actual, a.Message, a.Target = long, long, long, long
	m, _ := decodeSlack(t, ev)
	assert.LessOrEqual(t, utf8.RuneCountInString(m.Blocks[0].Text.Text), slackHeaderMax)
	for _, b := range m.Blocks[1:] {
		if b.Text != nil {
			assert.LessOrEqual(t, utf8.RuneCountInString(b.Text.Text), slackSectionMax)
			assert.False(t, strings.HasSuffix(strings.TrimSuffix(b.Text.Text, "…"), "&am"), "no half entity")
		}
		for _, e := range b.Elements {
			assert.LessOrEqual(t, utf8.RuneCountInString(e.Text), slackContextMax)
		}
	}
	assert.LessOrEqual(t, utf8.RuneCountInString(m.Text), slackFallback)
}

func TestSlackCutNeverLeavesHalfAnEntity(t *testing.T) {
	t.Parallel()
	s := slackEscape(strings.Repeat("a&", 10))
	for limit := 2; limit < len(s); limit++ {
		got := slackCut(s, limit)
		assert.LessOrEqual(t, utf8.RuneCountInString(got), limit)
		body := strings.TrimSuffix(got, "…")
		if i := strings.LastIndexByte(body, '&'); i >= 0 {
			assert.Contains(t, body[i:], ";", "limit %d: %q", limit, got)
		}
	}
}
