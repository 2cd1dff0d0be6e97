package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/member"
)

// shortDir returns a fresh directory with a short path (admin socket paths
// are limited to 107 bytes).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lat")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// runCLI runs the CLI in-process as main does, with stdin, and returns
// stdout, stderr and the exit status.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	code := 0
	if cmd, err := root.ExecuteContextC(context.Background()); err != nil {
		errOut.WriteString("lattice: " + errorLine(cmd, err) + "\n")
		code = 1
	}
	return out.String(), errOut.String(), code
}

// stoppedMember creates the data directory of a stopped member holding
// objects, written in order as {key, JSON} pairs.
func stoppedMember(t *testing.T, objects ...[2]string) string {
	t.Helper()
	dir := filepath.Join(shortDir(t), "m")
	id, err := member.Init(dir, "m1")
	require.NoError(t, err)
	st, err := crdt.OpenStore(crdt.DefaultStoreConfig(member.StorePath(dir), id))
	require.NoError(t, err)
	for _, o := range objects {
		_, err := st.Put(context.Background(), crdt.Key(o[0]), []byte(o[1]), crdt.PutOptions{Mode: crdt.PutUpsert})
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())
	return dir
}

func TestStoreDumpOnStoppedMember(t *testing.T) {
	dir := stoppedMember(t,
		[2]string{"federation.lattice.dev/FederatedDeployment/default/web", `{"spec":{"replicas":3},"kind":"FederatedDeployment"}`},
		[2]string{"/ConfigMap/prod/cfg", `{"data":{"a":"<&>"}}`},
	)
	out, errOut, code := runCLI(t, "", "store", "dump", "--data-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	require.Equal(t, `{"key":"/ConfigMap/prod/cfg","resourceVersion":2,"generation":1,"value":{"data":{"a":"<&>"}}}
{"key":"federation.lattice.dev/FederatedDeployment/default/web","resourceVersion":1,"generation":1,"value":{"kind":"FederatedDeployment","spec":{"replicas":3}}}
`, out)

	out, _, code = runCLI(t, "", "store", "dump", "--data-dir", dir, "--canonical")
	require.Equal(t, 0, code)
	require.Equal(t, `{"key":"/ConfigMap/prod/cfg","generation":1,"value":{"data":{"a":"<&>"}}}
{"key":"federation.lattice.dev/FederatedDeployment/default/web","generation":1,"value":{"kind":"FederatedDeployment","spec":{"replicas":3}}}
`, out)

	// An empty store dumps nothing.
	out, errOut, code = runCLI(t, "", "store", "dump", "--data-dir", stoppedMember(t))
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out)
}

func TestApplyOnStoppedMember(t *testing.T) {
	dir := stoppedMember(t)
	manifest := `apiVersion: federation.lattice.dev/v1alpha1
kind: FederatedDeployment
metadata: {name: web}
spec: {replicas: 2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
`
	out, errOut, code := runCLI(t, manifest, "apply", "-f", "-", "--data-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "federateddeployment.federation.lattice.dev/web created\nconfigmap/cfg created\n", out)

	out, _, code = runCLI(t, strings.Replace(manifest, "replicas: 2", "replicas: 5", 1), "apply", "-f", "-", "--data-dir", dir)
	require.Equal(t, 0, code)
	require.Equal(t, "federateddeployment.federation.lattice.dev/web configured\nconfigmap/cfg unchanged\n", out)

	out, _, code = runCLI(t, "", "store", "dump", "--data-dir", dir, "--canonical")
	require.Equal(t, 0, code)
	require.Equal(t, `{"key":"/ConfigMap/default/cfg","generation":1,"value":{"apiVersion":"v1","data":{"a":"b"},"kind":"ConfigMap","metadata":{"name":"cfg","namespace":"default"}}}
{"key":"federation.lattice.dev/FederatedDeployment/default/web","generation":2,"value":{"apiVersion":"federation.lattice.dev/v1alpha1","kind":"FederatedDeployment","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":5}}}
`, out)
}

func TestDataDirCommandErrors(t *testing.T) {
	notData := shortDir(t)
	file := filepath.Join(notData, "objs.yaml")
	require.NoError(t, os.WriteFile(file, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {}}\n"), 0o600))
	valid := filepath.Join(notData, "ok.yaml")
	require.NoError(t, os.WriteFile(valid, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"), 0o600))
	hint := "; pass the --data-dir of a member (e.g. .lattice/member-1 after 'lattice up', or the directory given to 'lattice agent --data-dir')"

	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		empty bool // the directory must stay untouched
	}{
		{"dump: not a data dir", []string{"store", "dump", "--data-dir", notData},
			notData + " is not a Lattice data directory (no store)" + hint, true},
		{"dump: missing dir", []string{"store", "dump", "--data-dir", filepath.Join(notData, "nope")},
			filepath.Join(notData, "nope") + " does not exist" + hint, true},
		{"dump: no flag", []string{"store", "dump"},
			`required flag(s) "data-dir" not set; run 'lattice store dump --help' for usage`, true},
		{"dump: empty flag", []string{"store", "dump", "--data-dir", ""},
			`--data-dir must not be empty; run 'lattice store dump --help' for usage`, true},
		{"store: unknown subcommand", []string{"store", "frob"},
			`unknown command "frob" for "lattice store"; run 'lattice store --help' for usage`, true},
		{"apply: not a data dir", []string{"apply", "-f", valid, "--data-dir", notData},
			notData + " is not a Lattice data directory (no store)" + hint, true},
		{"apply: invalid object names file and index", []string{"apply", "-f", file, "--data-dir", notData},
			file + ": object 2 (line 5): metadata.name is missing", true},
		{"apply: missing file", []string{"apply", "-f", filepath.Join(notData, "none.yaml"), "--data-dir", notData},
			"cannot read objects: open " + filepath.Join(notData, "none.yaml") + ": no such file or directory", true},
		{"apply: directory", []string{"apply", "-f", notData, "--data-dir", notData},
			notData + " is a directory; -f takes a file", true},
		{"apply: no -f", []string{"apply", "--data-dir", notData},
			`required flag(s) "filename" not set; run 'lattice apply --help' for usage`, true},
		{"up: too many members", []string{"up", "--members", "65"},
			"--members must be between 1 and 64, got 65; run 'lattice up --help' for usage", false},
		{"up: no members", []string{"up", "--members", "0"},
			"--members must be between 1 and 64, got 0; run 'lattice up --help' for usage", false},
		{"up: bad base port", []string{"up", "--base-port", "80"},
			"--base-port 80: want 1024 or more, leaving room for 203 ports above it; run 'lattice up --help' for usage", false},
		{"agent: cluster without listen", []string{"agent", "--data-dir", notData, "--cluster", "embedded"},
			"--cluster needs --listen (a member runs workloads as part of a federation); run 'lattice agent --help' for usage", true},
		{"agent: bad cluster", []string{"agent", "--data-dir", notData, "--listen", "127.0.0.1:0", "--cluster", "mesos"},
			`--cluster "mesos": want embedded, in-cluster or kubeconfig=PATH[,context=NAME]; run 'lattice agent --help' for usage`, true},
		{"agent: bad label", []string{"agent", "--data-dir", notData, "--listen", "127.0.0.1:0", "--cluster", "embedded", "--labels", "a b=c"},
			`--labels: key "a b": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'); run 'lattice agent --help' for usage`, true},
		{"agent: bad quantity", []string{"agent", "--data-dir", notData, "--embedded-node-cpu", "lots"},
			`invalid argument "lots" for "--embedded-node-cpu" flag: "lots" is not a quantity such as 4, 500m or 8Gi; run 'lattice agent --help' for usage`, true},
		{"agent: bad id", []string{"agent", "--data-dir", notData, "--id", "a b"},
			`--id: replica id "a b" contains a control or space character; run 'lattice agent --help' for usage`, true},
		{"agent: bad api listen", []string{"agent", "--data-dir", notData, "--api-listen", "localhost"},
			`--api-listen: "localhost" is not HOST:PORT: address localhost: missing port in address; run 'lattice agent --help' for usage`, true},
		{"agent: bad api mode", []string{"agent", "--data-dir", notData, "--api-mode", "open"},
			`--api-mode "open": want standalone or aggregated; run 'lattice agent --help' for usage`, true},
		{"agent: bad api san", []string{"agent", "--data-dir", notData, "--api-tls-san", "a b"},
			`--api-tls-san "a b": want a DNS name or an IP address; run 'lattice agent --help' for usage`, true},
		{"agent: auth kubeconfig standalone", []string{"agent", "--data-dir", notData, "--authentication-kubeconfig", "/x"},
			`--authentication-kubeconfig is for --api-mode aggregated; run 'lattice agent --help' for usage`, true},
		{"agent: in-cluster outside a pod", []string{"agent", "--data-dir", notData, "--listen", "127.0.0.1:0", "--cluster", "in-cluster"},
			`--cluster in-cluster: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset); run 'lattice agent --help' for usage`, true},
		{"agent: no data dir", []string{"agent"},
			`required flag(s) "data-dir" not set; run 'lattice agent --help' for usage`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", tc.args...)
			require.Equal(t, 1, code)
			require.Empty(t, out)
			require.Equal(t, "lattice: "+tc.want+"\n", errOut)
			if tc.empty {
				_, err := os.Stat(filepath.Join(notData, "store"))
				require.ErrorIs(t, err, os.ErrNotExist, "nothing may create a store here")
			}
		})
	}
}
