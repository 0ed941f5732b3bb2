package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/config"
)

func TestLoggerFormats(t *testing.T) {
	t.Parallel()
	cases := []struct {
		format   config.LogFormat
		terminal bool
		json     bool
	}{
		{config.LogFormatAuto, false, true},
		{config.LogFormatAuto, true, false},
		{config.LogFormatJSON, true, true},
		{config.LogFormatText, false, false},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		newLogger(&buf, "info", c.format, c.terminal).Info("run done", "duration", 1500*time.Millisecond)
		line := buf.String()
		var rec map[string]any
		isJSON := json.Unmarshal([]byte(line), &rec) == nil
		require.Equal(t, c.json, isJSON, "%s terminal=%v: %s", c.format, c.terminal, line)
		if isJSON {
			require.Equal(t, "1.5s", rec["duration"], "durations carry units")
		} else {
			require.Contains(t, line, "1.5s")
			require.Contains(t, line, "run done")
		}
		require.Equal(t, c.terminal && !isJSON, strings.Contains(line, "\x1b["), "colour only on a terminal: %q", line)
	}
}

func TestLoggerLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := newLogger(&buf, "warn", config.LogFormatJSON, false)
	log.Info("hidden")
	log.Warn("shown")
	require.NotContains(t, buf.String(), "hidden")
	require.Contains(t, buf.String(), "shown")
}
