package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sentinels are the errors every refusal must match.
var sentinels = []error{
	ErrMalformed, ErrTooLarge, ErrUnsupported, ErrBadSignature,
	ErrExpired, ErrNotYetValid, ErrRevoked, ErrNoChain, ErrWrongFederation,
}

func requireClassified(t *testing.T, err error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error matches no sentinel error: %v", err)
}

func FuzzVerifyJWS(f *testing.F) {
	id, err := Generate()
	require.NoError(f, err)
	for _, p := range []string{"", "payload", `{"a":1}`, "\x00\xff"} {
		jws, err := SignJWS(id, []byte(p))
		require.NoError(f, err)
		f.Add(jws)
		parts := strings.Split(jws, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + ".." + parts[2])
	}
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(enc([]byte(`{"alg":"none","kid":"`+id.KeyID()+`"}`)) + "." + enc([]byte("x")) + ".")
	f.Add(enc([]byte(`{"alg":"EdDSA","kid":"did:key:z6Mk#z"}`)) + ".." + strings.Repeat("A", 86))
	f.Add("..")
	f.Fuzz(func(t *testing.T, jws string) {
		payload, did, err := VerifyJWS(jws)
		if err != nil {
			requireClassified(t, err)
			require.Nil(t, payload)
			require.Empty(t, did)
			return
		}
		// Accepted: the signer's DID is well-formed and the payload is the
		// middle part.
		_, err = PublicKeyFromDID(did)
		require.NoError(t, err)
		parts := strings.Split(jws, ".")
		require.Len(t, parts, 3)
		want, err := base64.RawURLEncoding.DecodeString(parts[1])
		require.NoError(t, err)
		require.Equal(t, string(want), string(payload))
	})
}

func FuzzVerifyCredential(f *testing.F) {
	issuer, err := Generate()
	require.NoError(f, err)
	subject, err := Generate()
	require.NoError(f, err)
	cred, err := IssueCredential(issuer, subject.DID(), map[string]any{"name": "x", "n": 1, "tags": []string{"a", "b"}, "o": map[string]any{"k": true}}, []string{"TestCredential"}, t0, t0.Add(time.Hour))
	require.NoError(f, err)
	member, err := IssueMembership(issuer, "acme", subject.DID(), []string{"admin"}, time.Hour, t0)
	require.NoError(f, err)
	bare, err := IssueCredential(issuer, subject.DID(), nil, nil, t0, time.Time{})
	require.NoError(f, err)
	for _, seed := range [][]byte{cred, member, bare} {
		f.Add(seed)
		f.Add([]byte(strings.Replace(string(seed), `"x"`, `"y"`, 1)))
		f.Add([]byte(strings.Replace(string(seed), `Ed25519Signature2018`, `BbsBlsSignature2020`, 1)))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`"eyJhbGciOiJub25lIn0.e30."`))
	v, err := NewVerifier()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := v.VerifyCredential(raw, t0)
		if err != nil {
			requireClassified(t, err)
			require.Nil(t, c)
			return
		}
		// Accepted: well-formed, valid at t0, and verifying is
		// deterministic.
		require.NotNil(t, c)
		require.True(t, validCredentialID(c.ID))
		_, err = PublicKeyFromDID(c.Issuer)
		require.NoError(t, err)
		_, err = PublicKeyFromDID(c.Subject)
		require.NoError(t, err)
		require.NoError(t, checkClaims(c.Claims))
		require.NoError(t, c.ValidAt(t0))
		again, err := v.VerifyCredential(raw, t0)
		require.NoError(t, err)
		require.Equal(t, c, again)
		if m, err := v.VerifyMembership(raw, "acme", t0); err == nil {
			require.Equal(t, c.ID, m.ID)
		} else {
			requireClassified(t, err)
		}
	})
}

func FuzzResolve(f *testing.F) {
	f.Add(specDID)
	f.Add("did:key:z6Mk")
	f.Add("did:web:example.com")
	f.Add(didKeyOf(0xee, make([]byte, 40)))
	f.Add(didKeyOf(0x1200, make([]byte, 33)))
	f.Fuzz(func(t *testing.T, did string) {
		pub, doc, err := Resolve(did)
		if err != nil {
			requireClassified(t, err)
			return
		}
		back, err := DIDFromPublicKey(pub)
		require.NoError(t, err)
		require.Equal(t, did, back, "a DID has one canonical form")
		require.NoError(t, doc.Validate())
	})
}

// FuzzCredentialSubject replaces the subject of a signed credential, so that
// fuzzed claims get past the form checks into JSON-LD canonicalization and
// the signature check: whatever the claims, verification must return a
// classified error (or accept a subject that means what was signed).
func FuzzCredentialSubject(f *testing.F) {
	issuer, err := Generate()
	require.NoError(f, err)
	subject, err := Generate()
	require.NoError(f, err)
	claims := map[string]any{"name": "x", "n": 1, "tags": []string{"a", "b"}, "o": map[string]any{"k": true, "l": []any{map[string]any{"m": 1.5}}}}
	raw, err := IssueCredential(issuer, subject.DID(), claims, nil, t0, time.Time{})
	require.NoError(f, err)
	var doc map[string]json.RawMessage
	require.NoError(f, json.Unmarshal(raw, &doc))
	f.Add(string(doc["credentialSubject"]))
	f.Add(`{"id":"` + subject.DID() + `","name":"x"}`)
	f.Add(`{"id":"` + subject.DID() + `","o":{"k":{"l":{"m":[{"n":1},{"n":2}]}}}}`)
	f.Add(`"` + subject.DID() + `"`)
	v, err := NewVerifier()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, subjectJSON string) {
		if !json.Valid([]byte(subjectJSON)) {
			return
		}
		doc := maps.Clone(doc)
		doc["credentialSubject"] = json.RawMessage(subjectJSON)
		tampered, err := json.Marshal(doc)
		require.NoError(t, err)
		c, err := v.VerifyCredential(tampered, t0)
		if err != nil {
			requireClassified(t, err)
			return
		}
		require.Equal(t, subject.DID(), c.Subject)
	})
}
