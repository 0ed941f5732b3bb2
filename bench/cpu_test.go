package main

import (
	"slices"
	"testing"
)

func TestCPUPartsOfABackend(t *testing.T) {
	t.Parallel()
	if got := cpuPartsOf("postgres"); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("postgres reports parts %v, want all four", got)
	}
	for _, b := range []string{"memory", "sqlite"} {
		if got := cpuPartsOf(b); !slices.Equal(got, []int{0, 1, 3}) {
			t.Errorf("%s reports parts %v, want all but the database server", b, got)
		}
	}
}

func TestProcCPUReadsThisProcess(t *testing.T) {
	t.Parallel()
	busy := 0
	for i := range 50_000_000 {
		busy += i % 7
	}
	d, err := procCPU("self")
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 {
		t.Errorf("CPU time of this process after a busy loop (%d) = %v, want more than 0", busy, d)
	}
	if _, err := procCPU("0"); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
