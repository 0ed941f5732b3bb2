package worker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestOutageLogReportsAFlappingOutageOnce(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	o := outageLog{
		log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})),
		now: func() time.Time { return now },
	}
	down := fmt.Errorf("claim: %w", storage.ErrUnavailable)
	count := func(msg string) int { return strings.Count(buf.String(), msg) }

	o.ok()
	o.fail("claim jobs", down)
	now = now.Add(10 * time.Millisecond)
	o.ok() // A connection that still answered while the server went down.
	o.fail("record job outcomes", down)
	assert.Equal(t, 1, count("workers back off"), "one warning per outage")
	assert.Zero(t, count("storage answers again"), "a success right after a failure ends no outage")

	now = now.Add(outageSettle)
	o.ok()
	assert.Equal(t, 1, count("storage answers again"))
	assert.Contains(t, buf.String(), "failed_calls=2")

	o.fail("claim jobs", down)
	assert.Equal(t, 2, count("workers back off"), "a new outage warns again")

	o.fail("claim jobs", errors.New("syntax error"))
	assert.Equal(t, 1, count("job store call failed"), "other errors are logged each time")
}
