package main

import (
	"bufio"
	"expvar"
	"io"
	"os"
	"strconv"
	"strings"
)

// procStatusPath is where Linux reports the process's memory use.
const procStatusPath = "/proc/self/status"

// publishProcessVars publishes the expvar "process": the resident set size
// of the process now (rss_bytes) and at its peak (max_rss_bytes), read from
// /proc/self/status on each request of /debug/vars. Where that file does
// not exist (any system but Linux), or lacks a field, the field is omitted.
func publishProcessVars() {
	expvar.Publish("process", expvar.Func(func() any {
		f, err := os.Open(procStatusPath)
		if err != nil {
			return map[string]int64{}
		}
		defer f.Close()
		return parseProcStatus(f)
	}))
}

// parseProcStatus reads the VmRSS and VmHWM lines of a /proc/<pid>/status
// file (values in kB) and returns them in bytes as rss_bytes and
// max_rss_bytes. Fields that are absent or unreadable are left out.
func parseProcStatus(r io.Reader) map[string]int64 {
	out := map[string]int64{}
	keys := map[string]string{"VmRSS": "rss_bytes", "VmHWM": "max_rss_bytes"}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		name, want := keys[k]
		if !ok || !want {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			continue
		}
		out[name] = kb << 10
	}
	return out
}
