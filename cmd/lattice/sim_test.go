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

func TestSimRunErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no out":       {[]string{"sim", "run", "steady"}, "--out DIR is required"},
		"zero members": {[]string{"sim", "run", "steady", "--members", "0", "--out", "x"}, "--members 0: want 1 to"},
		"huge members": {[]string{"sim", "run", "steady", "--members", "100000000", "--out", "x"}, "--members 100000000"},
		"bad duration": {[]string{"sim", "run", "steady", "--duration", "-1s", "--out", "x"}, "--duration -1s"},
		"unknown":      {[]string{"sim", "run", "nope", "--out", "x"}, `no built-in scenario "nope"`},
		"missing file": {[]string{"sim", "run", "./nope.yaml", "--out", "x"}, "scenario file:"},
		"no scenario":  {[]string{"sim", "run", "--out", "x"}, "accepts 1 arg"},
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
