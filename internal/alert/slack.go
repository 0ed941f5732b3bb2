package alert

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Slack's limits, in characters.
const (
	slackHeaderMax  = 150  // The text of a header block.
	slackSectionMax = 3000 // The text of a section block.
	slackContextMax = 2000 // Each text of a context block.
	slackFallback   = 3000 // The top-level text; Slack allows more.
)

// slackMessage is a message for a Slack incoming webhook: a fallback text
// for notifications, and the Block Kit blocks shown.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// slackBody renders ev as a Slack Block Kit message: a header with the
// plan and what happened, a section with the status, the rule and a link
// to the execution, a section with the first failing step and its first
// failed assertion's expected and actual values, and a context line with
// the suppressed count. Texts from the event are escaped for Slack's
// mrkdwn and every text stays within Slack's limits.
func slackBody(ev *Event) ([]byte, error) {
	plan := ev.Plan.Name
	if plan == "" {
		plan = "plan " + ev.Plan.ID.String()
	}
	var title, emoji string
	switch ev.Event {
	case EventFailed:
		title, emoji = plan+" failed", ":red_circle:"
	case EventRecovered:
		title, emoji = plan+" recovered", ":large_green_circle:"
	case EventTest:
		title, emoji = "Test message from astro-runner", ":wave:"
	default:
		title, emoji = plan+": "+ev.Event, ":bell:"
	}

	var main strings.Builder
	if ev.Event == EventTest {
		main.WriteString("This is a sample message sent to test the channel; the plan and execution below are made up.\n")
	}
	fmt.Fprintf(&main, "*Plan:* %s\n", slackEscape(plan))
	status := "*Status:* " + slackEscape(ev.Execution.Status)
	if ev.ConsecutiveFailures > 1 {
		status += fmt.Sprintf(" (%d failures in a row)", ev.ConsecutiveFailures)
	}
	main.WriteString(status + "\n")
	if ev.Execution.Error != "" {
		fmt.Fprintf(&main, "*Error:* %s\n", slackEscape(ev.Execution.Error))
	}
	if ev.Rule != nil && ev.Rule.Name != "" {
		fmt.Fprintf(&main, "*Rule:* %s\n", slackEscape(ev.Rule.Name))
	}
	if ev.Execution.Environment != "" {
		fmt.Fprintf(&main, "*Environment:* %s\n", slackEscape(ev.Execution.Environment))
	}
	if ev.Execution.URL != "" {
		main.WriteString(slackLink(ev.Execution.URL, "Open the execution"))
	}

	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: cutChars(emoji+" "+title, slackHeaderMax), Emoji: true}},
		section(strings.TrimSuffix(main.String(), "\n")),
	}
	if len(ev.FailedSteps) > 0 {
		blocks = append(blocks, section(slackStep(&ev.FailedSteps[0], len(ev.FailedSteps)-1+ev.MoreFailedSteps)))
	}
	context := "astro-runner · delivery " + ev.DeliveryID.String()
	if ev.Suppressed > 0 {
		context = fmt.Sprintf("%d earlier message(s) of this rule were held back by the minimum interval. ", ev.Suppressed) + context
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: slackCut(context, slackContextMax)}}})

	fallback := fmt.Sprintf("%s: %s", title, ev.Execution.Status)
	if ev.Suppressed > 0 {
		fallback += fmt.Sprintf(" (%d held back)", ev.Suppressed)
	}
	return marshal(slackMessage{Text: slackCut(slackEscape(fallback), slackFallback), Blocks: blocks})
}

// slackStep describes the first failing step, and how many others failed.
func slackStep(s *FailedStep, others int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*Failing step:* %s (%s)\n", slackEscape(s.Name), slackEscape(s.Status))
	if s.Error != "" {
		fmt.Fprintf(&b, "*Error:* %s\n", slackEscape(s.Error))
	}
	if a := s.Assertion; a != nil {
		check := a.Kind
		if a.Target != "" {
			check += " " + a.Target
		}
		fmt.Fprintf(&b, "*Assertion:* %s\n", slackEscape(check))
		if a.Expected != "" {
			fmt.Fprintf(&b, "*Expected:* %s\n", slackCode(a.Expected))
		}
		if a.Actual != "" {
			fmt.Fprintf(&b, "*Actual:* %s\n", slackCode(a.Actual))
		}
		if a.Message != "" {
			fmt.Fprintf(&b, "_%s_\n", slackEscape(a.Message))
		}
	}
	if others > 0 {
		fmt.Fprintf(&b, "and %d more failed step(s)", others)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// section is a mrkdwn section block, its text cut to Slack's limit.
func section(text string) slackBlock {
	return slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: slackCut(text, slackSectionMax)}}
}

// slackEscaper escapes the characters that Slack's mrkdwn reserves.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackEscape escapes s for Slack's mrkdwn.
func slackEscape(s string) string { return slackEscaper.Replace(s) }

// slackCode shows s as inline code. Slack has no escape for a backtick in
// code, so backticks become a look-alike.
func slackCode(s string) string {
	s = strings.ReplaceAll(s, "`", "ˋ")
	s = strings.ReplaceAll(s, "\n", " ")
	return "`" + slackEscape(s) + "`"
}

// slackLink links to url, or shows it as text if it is not an absolute
// http(s) URL (no ASTRO_PUBLIC_URL set).
func slackLink(url, text string) string {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return slackEscape(text + ": " + url)
	}
	url = strings.NewReplacer("|", "%7C", " ", "%20").Replace(url)
	return "<" + slackEscape(url) + "|" + slackEscape(text) + ">"
}

// slackCut cuts escaped mrkdwn to limit characters without leaving half
// an entity (&amp;) at the end.
func slackCut(s string, limit int) string {
	c := cutChars(s, limit)
	if c == s {
		return c
	}
	if amp := strings.LastIndexByte(c, '&'); amp >= 0 && !strings.Contains(c[amp:], ";") {
		c = c[:amp] + "…"
	}
	return c
}

// cutChars cuts s to at most limit characters, the last being "…" when
// it is cut.
func cutChars(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	i, n := 0, 0
	for i < len(s) && n < limit-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return s[:i] + "…"
}
