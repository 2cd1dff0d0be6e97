package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

func parse(t *testing.T, in string) []Object {
	t.Helper()
	objs, err := ParseBytes([]byte(in), "in.yaml")
	require.NoError(t, err)
	return objs
}

func parseErr(t *testing.T, in string) string {
	t.Helper()
	_, err := ParseBytes([]byte(in), "in.yaml")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "\n", "errors are one line")
	return err.Error()
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func TestParseMultiDocumentYAML(t *testing.T) {
	objs := parse(t, `
# leading comment and an empty document
---
apiVersion: federation.lattice.dev/v1alpha1
kind: FederatedDeployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: prod
data:
  html: "<b>&</b>"
---
`)
	require.Len(t, objs, 2)

	fd := objs[0]
	require.Equal(t, crdt.Key("federation.lattice.dev/FederatedDeployment/default/web"), fd.Key)
	require.Equal(t, "federation.lattice.dev", fd.Group)
	require.Equal(t, "default", fd.Namespace, "namespaced kinds default to the default namespace")
	require.Equal(t, "federateddeployment.federation.lattice.dev/web", fd.DisplayName())
	require.Equal(t, "in.yaml: object 1 (line 4)", fd.Origin)
	m := decode(t, fd.JSON)
	require.Equal(t, "default", m["metadata"].(map[string]any)["namespace"], "the default namespace is written into the object")
	require.Equal(t, float64(3), m["spec"].(map[string]any)["replicas"])

	cm := objs[1]
	require.Equal(t, crdt.Key("/ConfigMap/prod/cfg"), cm.Key, "the core group is empty in the key")
	require.Equal(t, "", cm.Group)
	require.Equal(t, "configmap/cfg", cm.DisplayName())
	require.Contains(t, string(cm.JSON), `"<b>&</b>"`, "no HTML escaping")
}

func TestParseJSON(t *testing.T) {
	t.Run("single object", func(t *testing.T) {
		objs := parse(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"n":12345678901234567890}}`)
		require.Len(t, objs, 1)
		require.Equal(t, crdt.Key("/Secret/default/s"), objs[0].Key)
		require.Contains(t, string(objs[0].JSON), `12345678901234567890`, "numbers keep their exact text")
	})
	t.Run("stream of objects", func(t *testing.T) {
		objs := parse(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`)
		require.Len(t, objs, 2)
		require.Equal(t, "in.yaml: object 2 (line 2)", objs[1].Origin)
	})
	t.Run("List", func(t *testing.T) {
		objs := parse(t, `{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
    {"apiVersion": "federation.lattice.dev/v1alpha1", "kind": "Member", "metadata": {"name": "m"}}
  ]
}`)
		require.Len(t, objs, 2)
		require.Equal(t, crdt.Key("/ConfigMap/default/a"), objs[0].Key)
		require.Equal(t, crdt.Key("federation.lattice.dev/Member//m"), objs[1].Key)
		require.Equal(t, "in.yaml: object 2 (List item 2, line 1)", objs[1].Origin)
	})
	t.Run("typed list from kubectl get", func(t *testing.T) {
		objs := parse(t, `{"apiVersion":"v1","kind":"ConfigMapList","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]}`)
		require.Len(t, objs, 1)
	})
	t.Run("syntax error names the line", func(t *testing.T) {
		msg := parseErr(t, "{\"apiVersion\": \"v1\",\n \"kind\": }")
		require.Contains(t, msg, "in.yaml: invalid JSON at line 2")
	})
	t.Run("unterminated", func(t *testing.T) {
		require.Contains(t, parseErr(t, `{"apiVersion": "v1"`), "not closed")
	})
	t.Run("top-level array", func(t *testing.T) {
		require.Contains(t, parseErr(t, `[{"kind":"ConfigMap"}]`), "wrap the objects in a List")
	})
}

func TestParseYAMLList(t *testing.T) {
	objs := parse(t, `
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: b, namespace: kube-system}
`)
	require.Len(t, objs, 2)
	require.Equal(t, crdt.Key("/ConfigMap/kube-system/b"), objs[1].Key)
}

func TestParseMissingAndInvalidFields(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"missing apiVersion", "kind: ConfigMap\nmetadata: {name: a}\n", "in.yaml: object 1 (line 1): apiVersion is missing"},
		{"missing kind", "apiVersion: v1\nmetadata: {name: a}\n", "in.yaml: object 1 (line 1): kind is missing"},
		{"missing metadata", "apiVersion: v1\nkind: ConfigMap\n", "in.yaml: object 1 (line 1): metadata.name is missing"},
		{"missing name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n", "in.yaml: object 1 (line 1): metadata.name is missing"},
		{"generateName", "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n", "generateName is not supported"},
		{"empty name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ''}\n", "metadata.name is empty"},
		{"name not a string", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 5}\n", "metadata.name must be a string, got a number"},
		{"name with slash", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a/b}\n", `metadata.name "a/b" must not contain '/'`},
		{"bad namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: Prod}\n", `metadata.namespace "Prod" is invalid`},
		{"bad apiVersion", "apiVersion: a/b/c\nkind: ConfigMap\nmetadata: {name: a}\n", `apiVersion "a/b/c" is invalid`},
		{"empty group", "apiVersion: /v1\nkind: ConfigMap\nmetadata: {name: a}\n", `the group before "/" is empty`},
		{"bad kind", "apiVersion: v1\nkind: Config-Map\nmetadata: {name: a}\n", `kind "Config-Map" is invalid`},
		{"not an object", "- a\n- b\n", "in.yaml: object 1 (line 1): expected an object, got a list"},
		{"scalar document", "hello\n", "expected an object, got a string"},
		{"List items not a list", "apiVersion: v1\nkind: List\nitems: 3\n", "List: items must be a list"},
		{"nested List", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n", "a List inside a List"},
		{"YAML syntax", "apiVersion: v1\nkind: [\n", "in.yaml: invalid YAML: line"},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n", `line 3: duplicate key "kind"`},
		{"NaN", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nspec: {x: .nan}\n", "not a finite number"},
		{"custom tag", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: !Ref a}\n", "unsupported YAML tag !Ref"},
		{"nothing", "# just a comment\n---\n", "in.yaml: no objects found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, parseErr(t, tc.in), tc.want)
		})
	}
}

func TestParseNamesIndexOfEveryBadObject(t *testing.T) {
	_, err := ParseBytes([]byte(`
apiVersion: v1
kind: ConfigMap
metadata: {name: ok}
---
apiVersion: v1
kind: ConfigMap
metadata: {}
---
apiVersion: v1
metadata: {name: c}
`), "objs.yaml")
	require.EqualError(t, err, "objs.yaml: object 2 (line 6): metadata.name is missing; objs.yaml: object 3 (line 10): kind is missing")
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.Errs, 2)

	var many strings.Builder
	for i := 0; i < 5; i++ {
		many.WriteString("---\napiVersion: v1\nkind: ConfigMap\n")
	}
	_, err = ParseBytes([]byte(many.String()), "many.yaml")
	require.ErrorContains(t, err, "(and 2 more errors)")
}

func TestParseOversizedObject(t *testing.T) {
	big := strings.Repeat("x", MaxObjectBytes)
	_, err := ParseBytes([]byte(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {x: %s}\n", big)), "big.yaml")
	require.ErrorContains(t, err, "big.yaml: object 2 (line 5): configmap/big is 1.5 MiB as JSON, over the 1.5 MiB limit per object")

	_, err = Parse(strings.NewReader(strings.Repeat(" ", MaxInputBytes+1)), "huge.yaml")
	require.ErrorContains(t, err, "huge.yaml: input is larger than 64 MiB")
}

func TestParseScopesAndStoreManagedFields(t *testing.T) {
	objs := parse(t, `
apiVersion: federation.lattice.dev/v1alpha1
kind: Member
metadata:
  name: eu-1
  namespace: ignored
  resourceVersion: "42"
  generation: 7
  uid: 1234
`)
	require.Len(t, objs, 1)
	o := objs[0]
	require.Equal(t, crdt.Key("federation.lattice.dev/Member//eu-1"), o.Key, "Member is cluster-scoped")
	require.Equal(t, "", o.Namespace)
	meta := decode(t, o.JSON)["metadata"].(map[string]any)
	require.NotContains(t, meta, "namespace")
	require.NotContains(t, meta, "resourceVersion")
	require.NotContains(t, meta, "generation")
	require.Contains(t, meta, "uid")
}

func TestYAMLScalarsBecomeJSON(t *testing.T) {
	objs := parse(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
spec:
  octal: 0755
  hex: 0x1F
  big: 12345678901234567890
  float: 1.50
  exp: 1e3
  odd: +.5
  yes: yes
  on: true
  nothing: ~
  when: 2024-01-02T03:04:05Z
  quoted: "0755"
  80: port
`)
	spec := string(objs[0].JSON)
	for _, want := range []string{`"octal":493`, `"hex":31`, `"big":12345678901234567890`, `"float":1.50`,
		`"exp":1e3`, `"odd":0.5`, `"yes":"yes"`, `"on":true`, `"nothing":null`,
		`"when":"2024-01-02T03:04:05Z"`, `"quoted":"0755"`, `"80":"port"`} {
		require.Contains(t, spec, want)
	}
}

func TestYAMLAliases(t *testing.T) {
	objs := parse(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
base: &base {x: 1, y: 2}
spec:
  <<: *base
  y: 3
  copy: *base
`)
	spec := decode(t, objs[0].JSON)["spec"].(map[string]any)
	require.Equal(t, map[string]any{"x": float64(1), "y": float64(3), "copy": map[string]any{"x": float64(1), "y": float64(2)}}, spec,
		"explicit keys win over merged ones")

	// Each level doubles the expansion: 2^30 nodes from a few lines.
	var bomb strings.Builder
	bomb.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nl0: &l0 [x, x]\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&bomb, "l%d: &l%d [*l%d, *l%d]\n", i, i, i-1, i-1)
	}
	_, err := ParseBytes([]byte(bomb.String()), "bomb.yaml")
	require.ErrorContains(t, err, "through YAML aliases")
}

func TestFromJSON(t *testing.T) {
	o, err := FromJSON([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`))
	require.NoError(t, err)
	require.Equal(t, crdt.Key("/ConfigMap/default/a"), o.Key)

	for in, want := range map[string]string{
		`{"apiVersion":"v1"`: "not valid JSON",
		`{"a":1} {"b":2}`:    "trailing data",
		`[1]`:                "expected an object, got a list",
		`{"apiVersion":"v1","kind":"List","items":[]}`: "is a list; apply its items",
	} {
		_, err := FromJSON([]byte(in))
		require.ErrorContains(t, err, want, "input %s", in)
	}
	_, err = FromJSON(make([]byte, 2*MaxObjectBytes+1))
	require.ErrorContains(t, err, "over the 1.5 MiB limit")
}

func TestObjectErrorUnwraps(t *testing.T) {
	_, err := ParseBytes([]byte("apiVersion: v1\nkind: X\n"), "f")
	var oe *ObjectError
	require.True(t, errors.As(err, &oe))
	require.Equal(t, 1, oe.Index)
	require.Equal(t, "f", oe.File)
}
