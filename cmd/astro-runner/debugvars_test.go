package main

import (
	"encoding/json"
	"expvar"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseProcStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		input string
		want  map[string]int64
	}{
		{"both", "Name:\tastro-runner\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t9\n",
			map[string]int64{"rss_bytes": 10240 << 10, "max_rss_bytes": 20480 << 10}},
		{"rss only", "VmRSS:\t1 kB\n", map[string]int64{"rss_bytes": 1024}},
		{"empty", "", map[string]int64{}},
		{"no unit", "VmRSS:\t1234\n", map[string]int64{}},
		{"other unit", "VmRSS:\t1234 MB\n", map[string]int64{}},
		{"not a number", "VmRSS:\tlots kB\nVmHWM:\t-5 kB\n", map[string]int64{}},
		{"similar names ignored", "VmRSSx:\t5 kB\nRssAnon:\t7 kB\n", map[string]int64{}},
		{"no colon", "VmRSS 5 kB\n", map[string]int64{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, parseProcStatus(strings.NewReader(tc.input)))
		})
	}
}

func TestProcessVarIsPublished(t *testing.T) {
	t.Parallel()
	v := expvar.Get("process")
	require.NotNil(t, v, "expvar process is not published")
	var got map[string]int64
	require.NoError(t, json.Unmarshal([]byte(v.String()), &got))
	if runtime.GOOS != "linux" {
		return
	}
	require.Positive(t, got["rss_bytes"])
	require.GreaterOrEqual(t, got["max_rss_bytes"], got["rss_bytes"])
}
