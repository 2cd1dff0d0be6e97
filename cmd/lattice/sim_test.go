package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSimRunWritesOutputs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"sim", "run", "steady", "--members", "12", "--duration", "8s", "--seed", "3", "--out", dir}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "steady: 12 members")
	for _, f := range []string{"summary.json", "timeseries.csv", "convergence.csv", "convergence_cdf.svg", "bandwidth.svg", "ready_replicas.svg"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	var s map[string]any
	require.NoError(t, json.Unmarshal(b, &s))
	assert.Equal(t, float64(12), s["members"])
	assert.Equal(t, float64(3), s["seed"])
	assert.Equal(t, float64(8), s["virtual_seconds"])
	for _, k := range []string{"events", "wall_seconds", "events_per_second", "convergence_p50_seconds", "convergence_p99_seconds",
		"convergence_max_seconds", "bytes_per_member_per_second", "peak_heap_bytes", "replicas_below_desired_seconds"} {
		assert.Contains(t, s, k)
	}
	assert.Positive(t, s["events"])
}

// A workload that deletes makes the members collect tombstones; the run
// says how long that took, and plots the tombstones held.
func TestSimRunReportsTombstones(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"sim", "run", "tombstones", "--members", "12", "--duration", "3m", "--out", dir}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Regexp(t, `tombstones: [1-9][0-9]* deletes, [1-9][0-9]* collected \(p50 [0-9.]+s`, out.String())
	assert.FileExists(t, filepath.Join(dir, "tombstones.svg"))
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	var s map[string]any
	require.NoError(t, json.Unmarshal(b, &s))
	assert.Positive(t, s["tombstone_collection_p99_seconds"])
}

func TestSimRunErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no out":                {[]string{"sim", "run", "steady"}, "--out DIR is required"},
		"zero members":          {[]string{"sim", "run", "steady", "--members", "0", "--out", "x"}, "--members 0: want 1 to"},
		"huge members":          {[]string{"sim", "run", "steady", "--members", "100000000", "--out", "x"}, "--members 100000000"},
		"bad duration":          {[]string{"sim", "run", "steady", "--duration", "-1s", "--out", "x"}, "--duration -1s"},
		"unknown":               {[]string{"sim", "run", "nope", "--out", "x"}, `no built-in scenario "nope"`},
		"missing file":          {[]string{"sim", "run", "./nope.yaml", "--out", "x"}, "scenario file:"},
		"no scenario":           {[]string{"sim", "run", "--out", "x"}, "accepts 1 arg"},
		"bad profile":           {[]string{"sim", "run", "steady", "--out", "x", "--cpuprofile", "/nonexistent/dir/cpu.prof"}, "--cpuprofile:"},
		"bad decode workers":    {[]string{"sim", "run", "steady", "--out", "x", "--decode-workers", "-2"}, "--decode-workers -2: want -1"},
		"many decode workers":   {[]string{"sim", "run", "steady", "--out", "x", "--decode-workers", "65"}, "--decode-workers 65"},
		"validate no out":       {[]string{"sim", "validate"}, "--out DIR is required"},
		"validate one member":   {[]string{"sim", "validate", "--members", "1", "--out", "x"}, "--members 1: want 2 to 64"},
		"validate many members": {[]string{"sim", "validate", "--members", "20,65", "--out", "x"}, "--members 65: want 2 to 64"},
		"validate no writes":    {[]string{"sim", "validate", "--writes", "0", "--out", "x"}, "--writes 0"},
		"validate bad list":     {[]string{"sim", "validate", "--members", "a", "--out", "x"}, "invalid argument"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			assert.Equal(t, 1, code)
			msg := errOut.String()
			assert.Contains(t, msg, tc.want)
			assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
		})
	}
}

// lattice sim validate runs real members and the simulator and writes
// the side-by-side report.
func TestSimValidate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real members")
	}
	dir := filepath.Join(t.TempDir(), "out")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"sim", "validate", "--members", "3", "--writes", "8", "--out", dir}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "MEMBERS")
	for _, sched := range []string{"fifo", "shared"} {
		assert.Regexp(t, `\n3 +\d channels +`+sched+` +every +0 +assumed +[0-9.]+ ms`, out.String())
		assert.Regexp(t, `\n3 +journal \+[0-9.]+ ms/write +`+sched+` +every +0 +assumed +[0-9.]+ ms`, out.String())
		assert.Regexp(t, `\n3 +by load, 3 levels +`+sched+` +every +0 +assumed +[0-9.]+ ms`, out.String())
	}
	assert.Regexp(t, `\n3 +by load, 3 levels +shared +changed +0 +assumed +[0-9.]+ ms`, out.String())
	assert.Regexp(t, `\n3 +run's load, \d+ levels? +shared +changed +0 +assumed +[0-9.]+ ms`, out.String())
	assert.Regexp(t, `\n3 +run's load, \d+ levels? +shared +changed +7 +assumed +[0-9.]+ ms`, out.String())
	assert.Regexp(t, `\n3 +run's load, \d+ levels? +shared +changed +0 +measured +[0-9.]+ ms`, out.String())
	assert.Regexp(t, `\n3 +run's load, \d+ levels? +shared +changed +0 +by load, \d+ levels +[0-9.]+ ms`, out.String())
	assert.Regexp(t, `3 members, real frames in transit \(loop to inbox\): p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms over \d+ frames`, out.String())
	assert.Regexp(t, `3 members, real store commits: \d+% of \d+ batches synced, p50 [0-9.]+ ms`, out.String())
	b, err := os.ReadFile(filepath.Join(dir, "validation.json"))
	require.NoError(t, err)
	var rep struct {
		Tolerance float64 `json:"tolerance"`
		Rows      []struct {
			Members int `json:"members"`
			Real    struct {
				Writes int     `json:"writes"`
				P99    float64 `json:"convergence_p99_seconds"`
			} `json:"real"`
			Sims []struct {
				Model     string `json:"disk_model"`
				Scheduler string `json:"host_scheduler"`
				Writes    string `json:"disk_writes"`
				Handoffs  int    `json:"transit_handoffs"`
				Link      string `json:"link_model"`
				Sim       struct {
					Writes int     `json:"writes"`
					P99    float64 `json:"convergence_p99_seconds"`
				} `json:"sim"`
			} `json:"sims"`
			RealCommits struct {
				Batches int     `json:"batches"`
				P50     float64 `json:"synced_p50_seconds"`
			} `json:"real_commits"`
		} `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Len(t, rep.Rows, 1)
	assert.Equal(t, 0.25, rep.Tolerance)
	assert.Equal(t, 3, rep.Rows[0].Members)
	assert.Equal(t, 8, rep.Rows[0].Real.Writes)
	assert.Positive(t, rep.Rows[0].RealCommits.Batches)
	assert.Positive(t, rep.Rows[0].RealCommits.P50)
	assert.Positive(t, rep.Rows[0].Real.P99)
	require.Len(t, rep.Rows[0].Sims, 11)
	assert.Equal(t, 7, rep.Rows[0].Sims[8].Handoffs)
	for i, model := range []string{"channels", "journal", "load", "channels", "journal", "load", "load", "run", "run", "run", "run"} {
		link := map[int]string{9: "measured", 10: "by load"}[i]
		if i < 9 {
			link = "assumed"
		}
		assert.Equal(t, link, rep.Rows[0].Sims[i].Link)
		assert.Equal(t, model, rep.Rows[0].Sims[i].Model)
		assert.Equal(t, map[bool]string{false: "fifo", true: "shared"}[i >= 3], rep.Rows[0].Sims[i].Scheduler)
		assert.Equal(t, map[bool]string{false: "every", true: "changed"}[i >= 6], rep.Rows[0].Sims[i].Writes)
		assert.Positive(t, rep.Rows[0].Sims[i].Sim.Writes)
		assert.Positive(t, rep.Rows[0].Sims[i].Sim.P99)
	}
}
