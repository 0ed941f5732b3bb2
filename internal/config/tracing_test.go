package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/config"
)

func TestTraceTargetsIsRead(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"": true, "true": true, "TRUE": true, "false": false, "False": false} {
		c, err := config.Load(env(map[string]string{"ASTRO_TRACE_TARGETS": v}))
		require.NoError(t, err, v)
		require.Equal(t, want, c.TraceTargets, "ASTRO_TRACE_TARGETS=%q", v)
	}
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	require.True(t, c.TraceTargets, "on by default")
}

func TestTraceTargetsRefusesOtherValues(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"no", "0", "off", "maybe"} {
		_, err := config.Load(env(map[string]string{"ASTRO_TRACE_TARGETS": v}))
		require.ErrorContains(t, err, "ASTRO_TRACE_TARGETS", v)
		require.ErrorContains(t, err, "true or false")
	}
}
