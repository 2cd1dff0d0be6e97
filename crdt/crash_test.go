package crdt

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	crashDirEnv   = "LATTICE_CRASH_CHILD_DIR"
	crashRoundEnv = "LATTICE_CRASH_CHILD_ROUND"
	crashPeer     = ReplicaID("did:key:never-acks")
)

// TestCrashChild is the child process of TestCrashRecovery: it writes as
// fast as it can from several goroutines and prints each write once the
// store acknowledged it, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	round := os.Getenv(crashRoundEnv)
	s, err := OpenStore(DefaultStoreConfig(dir, "did:key:crash"))
	if err != nil {
		fmt.Printf("open-error %v\n", err)
		os.Exit(3)
	}
	ctx := context.Background()
	if err := s.SetPeers(ctx, []ReplicaID{crashPeer}); err != nil {
		os.Exit(4)
	}
	var out sync.Mutex
	fmt.Println("ready")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := Key(fmt.Sprintf("g/Thing/r%s/g%d-%d", round, g, i))
				obj, err := s.Create(ctx, key, []byte(fmt.Sprintf(`{"round":%s,"g":%d,"i":%d,"pad":"%s"}`, round, g, i, strings.Repeat("x", 200))))
				if err != nil {
					fmt.Printf("write-error %v\n", err)
					os.Exit(5)
				}
				// Goroutine 0 also keeps updating one shared key.
				if g == 0 {
					if _, err := s.Put(ctx, "g/Thing/shared/counter", []byte(fmt.Sprintf(`{"round":%s,"i":%d}`, round, i)), PutOptions{}); err != nil {
						os.Exit(6)
					}
				}
				out.Lock()
				fmt.Printf("ack %s %d\n", key, obj.ResourceVersion)
				if g == 0 {
					fmt.Printf("counter %s %d\n", round, i)
				}
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrashRecovery kills a writing child process with SIGKILL at random
// moments, at least 20 times, and checks after every restart that each
// acknowledged write is present, resourceVersions only grow, and the delta
// buffer still owes every write to the peer that never acknowledged.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(42, 42))
	type ack struct {
		key Key
		rv  uint64
	}
	var acked []ack
	lastCounter := -1
	lastCounterRound := -1
	var lastRV uint64
	const rounds = 24
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(exe, "-test.run", "^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = nil
		require.NoError(t, cmd.Start())
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Wait for the child to be writing, then kill it at a random moment.
		select {
		case l := <-lines:
			require.Equal(t, "ready", l, "child failed to start")
		case <-time.After(30 * time.Second):
			t.Fatal("child did not start")
		}
		// Kill at a random moment once writes are being acknowledged.
		var first []string
		select {
		case l, ok := <-lines:
			require.True(t, ok, "round %d: child exited before writing", round)
			first = append(first, l)
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: child acknowledged nothing", round)
		}
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		n := 0
		for l := range lines {
			first = append(first, l)
		}
		for _, l := range first {
			f := strings.Fields(l)
			switch f[0] {
			case "ack":
				rv, err := strconv.ParseUint(f[2], 10, 64)
				require.NoError(t, err)
				acked = append(acked, ack{key: Key(f[1]), rv: rv})
				require.Greater(t, rv, lastRV, "round %d: resourceVersion reused after restart", round)
				n++
			case "counter":
				r, _ := strconv.Atoi(f[1])
				i, _ := strconv.Atoi(f[2])
				lastCounterRound, lastCounter = r, i
			default:
				t.Fatalf("child: %s", l)
			}
		}
		require.Positive(t, n, "round %d: child acknowledged nothing before the kill", round)

		s, err := OpenStore(DefaultStoreConfig(dir, "did:key:crash"))
		require.NoError(t, err, "round %d: reopen after kill", round)
		for _, a := range acked {
			obj, err := s.Get(a.key)
			require.NoError(t, err, "round %d: acknowledged write %s lost", round, a.key)
			require.Equal(t, a.rv, obj.ResourceVersion, "round %d: %s", round, a.key)
		}
		if lastCounter >= 0 {
			obj, err := s.Get("g/Thing/shared/counter")
			require.NoError(t, err)
			var v struct{ Round, I int }
			require.NoError(t, json.Unmarshal(obj.Value, &v))
			require.True(t, v.Round > lastCounterRound || (v.Round == lastCounterRound && v.I >= lastCounter),
				"round %d: counter went back to %+v (acked %d/%d)", round, v, lastCounterRound, lastCounter)
		}
		rv := s.ResourceVersion()
		require.GreaterOrEqual(t, rv, lastRV)
		lastRV = rv
		// The buffer still owes the peer every write.
		owed := map[Key]bool{}
		require.NoError(t, s.Inspect(context.Background(), func(r *Replica) {
			for _, e := range r.Buffer() {
				for _, kd := range e.Docs {
					owed[kd.Key] = true
				}
			}
		}))
		m, err := s.DeltaFor(context.Background(), crashPeer)
		require.NoError(t, err)
		require.NotNil(t, m)
		for _, a := range acked {
			require.True(t, owed[a.key], "round %d: buffer lost delta for %s", round, a.key)
		}
		require.NoError(t, s.Close())
	}
	t.Logf("%d rounds, %d acknowledged writes verified", rounds, len(acked))
}
