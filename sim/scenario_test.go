package sim

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuiltinScenariosParse(t *testing.T) {
	names := BuiltinScenarios()
	for _, want := range []string{"steady", "partition", "region-outage", "churn", "write-storm", "member-failure", "validation", "tombstones"} {
		assert.Contains(t, names, want)
	}
	for _, n := range names {
		sc, err := LoadScenario(n)
		require.NoError(t, err, n)
		assert.Equal(t, n, sc.Name)
		_, err = NewWorld(withSmall(sc))
		require.NoError(t, err, n)
	}
}

// withSmall shrinks a scenario for a quick construction check.
func withSmall(sc *Scenario) *Scenario {
	c := *sc
	c.Members = min(c.Members, 10)
	return &c
}

func TestLoadScenarioFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mine.yaml")
	require.NoError(t, os.WriteFile(p, []byte("name: mine\nmembers: 3\nduration: 2s\n"), 0o644))
	sc, err := LoadScenario(p)
	require.NoError(t, err)
	assert.Equal(t, 3, sc.Members)
	assert.Equal(t, 2*time.Second, sc.Duration)
	assert.Equal(t, "lan", sc.Profile, "defaults applied")

	_, err = LoadScenario("no-such-scenario")
	require.ErrorContains(t, err, "built-in: ")
}

func TestScenarioValidation(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":    {"members: 3\nduration: 1s\nmembrs: 4\n", "field membrs not found"},
		"no members":       {"duration: 1s\n", "members 0"},
		"too many members": {"members: 1000000\nduration: 1s\n", "members 1000000"},
		"zero duration":    {"members: 3\n", "duration 0s"},
		"bad profile":      {"members: 3\nduration: 1s\nprofile: moon\n", `profile "moon"`},
		"loss 1":           {"members: 3\nduration: 1s\ntopology: {default_link: {latency: {median: 1ms}, loss: 1}}\n", "loss 1"},
		"two actions":      {"members: 3\nduration: 1s\nevents: [{at: 1s, heal: true, crash: {members: [1]}}]\n", "exactly one"},
		"no action":        {"members: 3\nduration: 1s\nevents: [{at: 1s}]\n", "exactly one"},
		"unknown region":   {"members: 3\nduration: 1s\nevents: [{at: 1s, crash: {region: mars}}]\n", `unknown region "mars"`},
		"bad fraction":     {"members: 3\nduration: 1s\nevents: [{at: 1s, partition: {fraction: 1.5}}]\n", "fraction"},
		"two documents":    {"members: 3\nduration: 1s\n---\nmembers: 4\n", "more than one"},
		"empty":            {"", "empty"},
		"gap without seq":  {"members: 3\nduration: 1s\nworkload: {gap: 1s}\n", "gap"},
		"deploy too large": {"members: 3000\nduration: 1s\ndeployment: {replicas: 3}\n", "at most 2000"},
		"negative cpu":     {"members: 3\nduration: 1s\ntopology: {process_cpu: -1ms}\n", "process_cpu -1ms"},
		"huge cpu":         {"members: 3\nduration: 1s\ntopology: {process_cpu: 2m}\n", "process_cpu 2m0s"},
		"negative disk":    {"members: 3\nduration: 1s\ntopology: {disk_channels: -1}\n", "disk_channels -1"},
		"deletes over 1":   {"members: 3\nduration: 1s\nworkload: {deletes: 1.5}\n", "workload deletes 1.5"},
		"negative deletes": {"members: 3\nduration: 1s\nworkload: {deletes: -0.1}\n", "workload deletes -0.1"},
		"tiny gc interval": {"members: 3\nduration: 1s\nsync: {gc_interval: 1ms}\n", "gc_interval 1ms"},
		"huge gc interval": {"members: 3\nduration: 1s\nsync: {gc_interval: 2h}\n", "gc_interval 2h0m0s"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tc.yaml))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestMemberIndexCheckedAgainstMembers(t *testing.T) {
	sc, err := ParseScenario([]byte("members: 3\nduration: 1s\nevents: [{at: 1s, crash: {members: [5]}}]\n"))
	require.NoError(t, err)
	_, err = NewWorld(sc)
	require.ErrorContains(t, err, "member index 5")
}

func TestOverrides(t *testing.T) {
	sc, err := LoadScenario("steady")
	require.NoError(t, err)
	seed := uint64(9)
	require.NoError(t, sc.Apply(Overrides{Members: 7, Seed: &seed, Duration: time.Minute}))
	assert.Equal(t, 7, sc.Members)
	assert.Equal(t, uint64(9), sc.Seed)
	assert.Equal(t, time.Minute, sc.Duration)
	require.Error(t, sc.Apply(Overrides{Members: MaxMembers + 1}))
}

func FuzzScenario(f *testing.F) {
	for _, n := range BuiltinScenarios() {
		b, err := builtin.ReadFile("scenarios/" + n + ".yaml")
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte("members: 3\nduration: 1s\nevents: [{at: 1s, churn: {fraction: 0.5, over: 1s}}]\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		sc, err := ParseScenario(raw)
		if err != nil {
			return
		}
		// Whatever parses is within the documented ranges and stays valid.
		require.NoError(t, sc.Validate())
		require.GreaterOrEqual(t, sc.Members, 1)
		require.LessOrEqual(t, sc.Members, MaxMembers)
		require.Positive(t, sc.Duration)
		require.LessOrEqual(t, sc.Duration, MaxDuration)
		require.NotEmpty(t, sc.Topology.Regions)
	})
}
