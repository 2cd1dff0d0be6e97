package apiserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/lattice-federation/lattice/crdt"
)

// FuzzContinueToken: a client-supplied continue token either decodes to a
// token that re-encodes to itself or is refused with a 400.
func FuzzContinueToken(f *testing.F) {
	f.Add(encodeContinue(continueToken{Version: 1, RV: 7, After: "default/web"}))
	f.Add("")
	f.Add("eyJ2IjoxfQ")
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := decodeContinue(s)
		if err != nil {
			require.True(t, apierrors.IsBadRequest(err), "%v", err)
			return
		}
		require.Equal(t, 1, tok.Version)
		require.NotEmpty(t, tok.After)
		again, err := decodeContinue(encodeContinue(tok))
		require.NoError(t, err)
		require.Equal(t, tok, again)
	})
}

// FuzzDecodeDeployment: whatever a peer stored under a deployment key, the
// API either serves it or reports an error; it never panics.
func FuzzDecodeDeployment(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"federation.lattice.dev/v1alpha1","kind":"FederatedDeployment","spec":{"replicas":2}}`))
	f.Add([]byte(`{"spec":{"template":{"template":{"spec":{"containers":[{"name":"a"}]}}}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := deploymentKey("default", "web")
		require.NoError(t, err)
		d := &deployments{live: func() []string { return nil }, now: nowForFuzz}
		fd, err := decodeDeployment(crdtObject(key, b))
		if err != nil {
			return
		}
		require.Equal(t, "web", fd.Name)
		d.withStatus(fd, nil, nil)
		_, _ = storedForm(fd)
	})
}

func nowForFuzz() time.Time { return time.Unix(1700000000, 0) }

func crdtObject(key crdt.Key, b []byte) crdt.Object {
	return crdt.Object{Key: key, ResourceVersion: 1, Generation: 1, Value: b}
}
