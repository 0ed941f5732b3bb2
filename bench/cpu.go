package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuParts names the processes whose CPU time the runs workload reports,
// in the order of its rows.
var cpuParts = []string{"astro-runner serve", "example target", "PostgreSQL (all its processes)", "bench client (this process)"}

// postgresPart is the index of the database server in cpuParts.
const postgresPart = 2

// cpuPartsOf returns the indexes in cpuParts of the parts that a run on
// backend reports: the database server only on postgres.
func cpuPartsOf(backend string) []int {
	var parts []int
	for i := range cpuParts {
		if i != postgresPart || backend == "postgres" {
			parts = append(parts, i)
		}
	}
	return parts
}

// cpuSample is the CPU time (user and system) each part had used at one
// moment; a part that could not be read is zero.
type cpuSample [4]time.Duration

// sampleCPU reads the CPU time of the server, the target, every postgres
// process and this process.
func sampleCPU(server, target int) cpuSample {
	var s cpuSample
	s[0], _ = procCPU(strconv.Itoa(server))
	s[1], _ = procCPU(strconv.Itoa(target))
	s[postgresPart] = postgresCPU()
	s[3], _ = procCPU("self")
	return s
}

// perRun returns the CPU time per run of each part between a and b, in
// microseconds.
func (b cpuSample) perRun(a cpuSample, runs int) []float64 {
	out := make([]float64, len(b))
	for i := range b {
		out[i] = float64((b[i] - a[i]).Microseconds()) / float64(runs)
	}
	return out
}

// procCPU returns utime+stime of the process /proc/<pid>.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces;
	// the fields after it start at state (field 3).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: bad CPU times", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// postgresCPU sums the CPU time of every process named postgres that this
// user may read: the server's backends, its writers and the WAL writer.
// Backends that exited between two samples drop out of the sum, so the
// workload keeps its connections open while it is measured.
func postgresCPU() time.Duration {
	dirs, _ := os.ReadDir("/proc")
	var sum time.Duration
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
		if err != nil || string(bytes.TrimSpace(comm)) != "postgres" {
			continue
		}
		if t, err := procCPU(d.Name()); err == nil {
			sum += t
		}
	}
	return sum
}
