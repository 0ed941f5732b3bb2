package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/config"
)

func env(kv map[string]string) config.LookupFunc {
	return func(name string) (string, bool) {
		v, ok := kv[name]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, config.BackendMemory, c.Backend)
	require.Equal(t, "./astro.db", c.SQLitePath)
	require.Equal(t, ":8080", c.Addr)
	require.Equal(t, 8, c.Workers)
	require.Equal(t, []string{"default"}, c.Queues)
	require.Equal(t, 30*time.Second, c.JobLease)
	require.Equal(t, 15*time.Minute, c.RunTimeout)
	require.Equal(t, "async", c.QueueCommit)
	require.Equal(t, config.LogFormatAuto, c.LogFormat)
	require.Equal(t, 30*24*time.Hour, c.ExecutionRetention)
	require.True(t, c.Scheduler)
	require.Equal(t, time.Second, c.SchedulerInterval)
	require.Equal(t, 10*time.Second, c.ScheduleMinInterval)
	require.Equal(t, 5*time.Minute, c.AlertMinInterval)
	require.Equal(t, 12, c.AlertMaxAttempts)
	require.Equal(t, "http://localhost:8080", c.PublicURL)
	require.True(t, c.SecretPattern.MatchString("api_TOKEN"))
	require.False(t, c.SecretPattern.MatchString("user_id"))
}

func TestInvalidValuesNameTheirVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"STORAGE_BACKEND": "mysql"}, "STORAGE_BACKEND"},
		{map[string]string{"STORAGE_BACKEND": "postgres"}, "POSTGRESQL_URL"},
		{map[string]string{"ASTRO_WORKERS": "zero"}, "ASTRO_WORKERS"},
		{map[string]string{"ASTRO_WORKERS": "0"}, "ASTRO_WORKERS"},
		{map[string]string{"ASTRO_ADDR": "8080"}, "ASTRO_ADDR"},
		{map[string]string{"ASTRO_SECRET_PATTERN": "("}, "ASTRO_SECRET_PATTERN"},
		{map[string]string{"ASTRO_JOB_LEASE": "10ms"}, "ASTRO_JOB_LEASE"},
		{map[string]string{"ASTRO_RUN_TIMEOUT": "500ms"}, "ASTRO_RUN_TIMEOUT"},
		{map[string]string{"ASTRO_RUN_TIMEOUT": "forever"}, "ASTRO_RUN_TIMEOUT"},
		{map[string]string{"ASTRO_LOG_LEVEL": "loud"}, "ASTRO_LOG_LEVEL"},
		{map[string]string{"ASTRO_LOG_FORMAT": "xml"}, "ASTRO_LOG_FORMAT"},
		{map[string]string{"ASTRO_QUEUE_COMMIT": "off"}, "ASTRO_QUEUE_COMMIT"},
		{map[string]string{"ASTRO_PLAN_ENV_ALLOW": "OK,not-ok"}, "ASTRO_PLAN_ENV_ALLOW"},
		{map[string]string{"ASTRO_QUEUES": "default,EU"}, "ASTRO_QUEUES"},
		{map[string]string{"ASTRO_QUEUES": "eu west"}, "ASTRO_QUEUES"},
		{map[string]string{"ASTRO_EXECUTION_RETENTION": "30m"}, "ASTRO_EXECUTION_RETENTION"},
		{map[string]string{"ASTRO_EXECUTION_RETENTION": "a month"}, "ASTRO_EXECUTION_RETENTION"},
		{map[string]string{"ASTRO_EXECUTION_RETENTION": "-1d"}, "ASTRO_EXECUTION_RETENTION"},
		{map[string]string{"ASTRO_SCHEDULER": "yes"}, "ASTRO_SCHEDULER"},
		{map[string]string{"ASTRO_SCHEDULER_INTERVAL": "1ms"}, "ASTRO_SCHEDULER_INTERVAL"},
		{map[string]string{"ASTRO_SCHEDULE_MIN_INTERVAL": "500ms"}, "ASTRO_SCHEDULE_MIN_INTERVAL"},
		{map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "-1s"}, "ASTRO_ALERT_MIN_INTERVAL"},
		{map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "often"}, "ASTRO_ALERT_MIN_INTERVAL"},
		{map[string]string{"ASTRO_ALERT_MAX_ATTEMPTS": "0"}, "ASTRO_ALERT_MAX_ATTEMPTS"},
		{map[string]string{"ASTRO_ALERT_MAX_ATTEMPTS": "51"}, "ASTRO_ALERT_MAX_ATTEMPTS"},
		{map[string]string{"ASTRO_PUBLIC_URL": "astro.example.com"}, "ASTRO_PUBLIC_URL"},
		{map[string]string{"ASTRO_PUBLIC_URL": "ftp://astro.example.com"}, "ASTRO_PUBLIC_URL"},
		{map[string]string{"ASTRO_PUBLIC_URL": "https://astro.example.com/?x=1"}, "ASTRO_PUBLIC_URL"},
		{map[string]string{"ASTRO_PUBLIC_URL": "https://user:pw@astro.example.com"}, "ASTRO_PUBLIC_URL"},
		{map[string]string{"ASTRO_METRICS_ADDR": "9090"}, "ASTRO_METRICS_ADDR"},
		{map[string]string{"ASTRO_METRICS_ADDR": "127.0.0.1:9090", "ASTRO_ADDR": "127.0.0.1:9090"}, "ASTRO_METRICS_ADDR"},
		{map[string]string{"ASTRO_METRICS_PLAN_LABELS": "yes"}, "ASTRO_METRICS_PLAN_LABELS"},
		{map[string]string{"ASTRO_METRICS_PLAN_LABELS": "1"}, "ASTRO_METRICS_PLAN_LABELS"},
	}
	for _, tc := range cases {
		t.Run(tc.want+"="+tc.env[tc.want], func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(env(tc.env))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestPostgresWithURL(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{
		"STORAGE_BACKEND": "postgres", "POSTGRESQL_URL": "postgres://x@127.0.0.1/db",
		"ASTRO_PLAN_ENV_ALLOW": " HOME , CI_TOKEN ,",
	}))
	require.NoError(t, err)
	require.Equal(t, config.BackendPostgres, c.Backend)
	require.Equal(t, []string{"HOME", "CI_TOKEN"}, c.PlanEnvAllow)
}

func TestRunTimeoutIsRead(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{"ASTRO_RUN_TIMEOUT": "2h"}))
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, c.RunTimeout)
}

func TestLogFormatIsRead(t *testing.T) {
	t.Parallel()
	for _, f := range []config.LogFormat{config.LogFormatAuto, config.LogFormatText, config.LogFormatJSON} {
		c, err := config.Load(env(map[string]string{"ASTRO_LOG_FORMAT": string(f)}))
		require.NoError(t, err)
		require.Equal(t, f, c.LogFormat)
	}
}

func TestQueues(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"eu":                       {"eu"},
		" eu , default ,eu,, us-1": {"eu", "default", "us-1"},
		",":                        {"default"},
	} {
		c, err := config.Load(env(map[string]string{"ASTRO_QUEUES": in}))
		require.NoError(t, err, in)
		require.Equal(t, want, c.Queues, in)
	}
}

func TestExecutionRetentionIsRead(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"0": 0, "14d": 14 * 24 * time.Hour, "36h": 36 * time.Hour} {
		c, err := config.Load(env(map[string]string{"ASTRO_EXECUTION_RETENTION": in}))
		require.NoError(t, err, in)
		require.Equal(t, want, c.ExecutionRetention, in)
	}
}

func TestAlertSettingsAreRead(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{
		"ASTRO_ALERT_MIN_INTERVAL": "0", "ASTRO_ALERT_MAX_ATTEMPTS": "3",
		"ASTRO_PUBLIC_URL": "https://astro.example.com/runner/", "ASTRO_ADDR": "127.0.0.1:9090",
	}))
	require.NoError(t, err)
	require.Zero(t, c.AlertMinInterval)
	require.Equal(t, 3, c.AlertMaxAttempts)
	require.Equal(t, "https://astro.example.com/runner", c.PublicURL)

	c, err = config.Load(env(map[string]string{"ASTRO_ADDR": "127.0.0.1:9090"}))
	require.NoError(t, err)
	require.Equal(t, "http://localhost:9090", c.PublicURL, "the default follows ASTRO_ADDR's port")
}

func TestMetricsSettingsAreRead(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	require.Empty(t, c.MetricsAddr, "no metrics listener by default")
	require.False(t, c.MetricsPlanLabels, "no plan labels by default")

	c, err = config.Load(env(map[string]string{
		"ASTRO_METRICS_ADDR": "127.0.0.1:9464", "ASTRO_METRICS_PLAN_LABELS": "true",
	}))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9464", c.MetricsAddr)
	require.True(t, c.MetricsPlanLabels)

	c, err = config.Load(env(map[string]string{"ASTRO_METRICS_PLAN_LABELS": "false"}))
	require.NoError(t, err)
	require.False(t, c.MetricsPlanLabels)
}
