package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// newmanDir is the folder, relative to bench/, of the Postman collection
// and of the pinned Newman that `task bench` installs with npm ci.
const newmanDir = "newman"

// newman runs the collection equivalent to examples/plan.json.
type newman struct {
	bin        string // node_modules/.bin/newman
	collection string
	baseURL    string
	dir        string // For reports.
}

// findNewman returns the installed Newman, or a reason to skip its rows.
func findNewman(baseURL, tmp string) (*newman, string) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, "node is not installed"
	}
	dir, err := filepath.Abs(newmanDir)
	if err != nil {
		return nil, err.Error()
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "newman")
	if _, err := os.Stat(bin); err != nil {
		return nil, "newman is not installed: run `npm ci` in bench/newman (task bench does)"
	}
	return &newman{bin: bin, collection: filepath.Join(dir, "collection.json"), baseURL: baseURL, dir: tmp}, ""
}

// args returns the arguments of one newman run of k iterations. Newman
// reaches the network only for the collection's own requests: it fetches a
// collection or environment from the Postman API only when given a URL or
// a Postman UID, and never sends usage data.
func (nm *newman) args(k int, extra ...string) []string {
	return append([]string{"run", nm.collection, "-n", strconv.Itoa(k), "--env-var", "base_url=" + nm.baseURL}, extra...)
}

// check runs the collection once with the JSON reporter and checks that
// every one of its assertions ran and passed, so that a collection that
// checks nothing cannot pass for a fast one.
func (nm *newman) check(ctx context.Context, wantAssertions int) error {
	report := filepath.Join(nm.dir, "newman-check.json")
	cmd := exec.CommandContext(ctx, nm.bin, nm.args(1, "--reporters", "json", "--reporter-json-export", report)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("newman check run: %w\n%s", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		return err
	}
	var r struct {
		Run struct {
			Stats struct {
				Requests   struct{ Total, Failed int } `json:"requests"`
				Assertions struct{ Total, Failed int } `json:"assertions"`
			} `json:"stats"`
		} `json:"run"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("newman report: %w", err)
	}
	st := r.Run.Stats
	if st.Assertions.Total != wantAssertions || st.Assertions.Failed != 0 || st.Requests.Failed != 0 {
		return fmt.Errorf("newman check run: %d assertions (%d failed), %d requests (%d failed); want %d assertions, none failed",
			st.Assertions.Total, st.Assertions.Failed, st.Requests.Total, st.Requests.Failed, wantAssertions)
	}
	return nil
}

// run starts procs newman processes of k iterations each at once and
// returns the wall time until the last one exits. Every process must exit
// 0, which newman does only when every assertion passed.
func (nm *newman) run(ctx context.Context, procs, k int) (time.Duration, error) {
	errs := make(chan error, procs)
	start := time.Now()
	for range procs {
		go func() {
			cmd := exec.CommandContext(ctx, nm.bin, nm.args(k, "--silent")...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("newman run: %w\n%s", err, out)
			}
			errs <- err
		}()
	}
	var all []error
	for range procs {
		all = append(all, <-errs)
	}
	return time.Since(start), errors.Join(all...)
}

// runCLI runs `astro-runner run` with the plan file given k times, and
// returns the wall time, start-up included. It exits 0 only when every
// plan passed.
func runCLI(ctx context.Context, bins *binaries, targetAddr string, k int) (time.Duration, error) {
	args := []string{"run", "--no-color", "--var", "base_url=http://" + targetAddr}
	plan := filepath.Join(bins.root, "examples", "plan.json")
	for range k {
		args = append(args, plan)
	}
	cmd := exec.CommandContext(ctx, bins.astro, args...)
	cmd.Env = append(productFreeEnv(), "ASTRO_TARGET_ALLOW="+targetAddr)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		tail := out[max(0, len(out)-2000):]
		return 0, fmt.Errorf("astro-runner run: %w\n%s", err, tail)
	}
	return elapsed, nil
}
