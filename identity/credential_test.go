package identity

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// t0 is the time of the tests: far from the wall clock, so nothing depends
// on it.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func issue(t testing.TB, issuer Signer, subject string, claims map[string]any) []byte {
	t.Helper()
	raw, err := IssueCredential(issuer, subject, claims, []string{"TestCredential"}, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	return raw
}

func TestCredentialRoundTrip(t *testing.T) {
	issuer, subject := newIdentity(t), newIdentity(t)
	claims := map[string]any{
		"name":   "edge-1",
		"cores":  64,
		"ratio":  0.5,
		"gpu":    false,
		"zones":  []string{"eu-west-1a", "eu-west-1b"},
		"limits": map[string]any{"cpu": "16", "memory_gi": 64, "labels": map[string]any{"tier": "gold"}},
	}
	raw, err := IssueCredential(issuer, subject.DID(), claims, []string{"CapacityCredential", "CapacityCredential"}, t0.Add(300*time.Millisecond), t0.Add(24*time.Hour))
	require.NoError(t, err)

	c, err := VerifyCredential(raw, t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, validCredentialID(c.ID), c.ID)
	require.Equal(t, []string{"VerifiableCredential", "CapacityCredential"}, c.Types)
	require.True(t, c.HasType("CapacityCredential"))
	require.False(t, c.HasType(MembershipCredentialType))
	require.Equal(t, issuer.DID(), c.Issuer)
	require.Equal(t, subject.DID(), c.Subject)
	require.Equal(t, t0, c.IssuedAt, "validity is kept to the second")
	require.Equal(t, t0.Add(24*time.Hour), c.ExpiresAt)
	require.Equal(t, map[string]any{
		"name": "edge-1", "cores": float64(64), "ratio": 0.5, "gpu": false,
		"zones":  []any{"eu-west-1a", "eu-west-1b"},
		"limits": map[string]any{"cpu": "16", "memory_gi": float64(64), "labels": map[string]any{"tier": "gold"}},
	}, c.Claims)

	// A fresh Verifier agrees with the shared one.
	v, err := NewVerifier()
	require.NoError(t, err)
	c2, err := v.VerifyCredential(raw, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, c, c2)

	// The form: W3C VC v1 with an Ed25519Signature2018 proof.
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.Equal(t, []any{CredentialsContext, LatticeContext}, doc["@context"])
	proof := doc["proof"].(map[string]any)
	require.Equal(t, "Ed25519Signature2018", proof["type"])
	require.Equal(t, issuer.KeyID(), proof["verificationMethod"])
	require.Equal(t, "assertionMethod", proof["proofPurpose"])

	// No claims, no expiry, no extra types.
	raw, err = IssueCredential(issuer, subject.DID(), nil, nil, t0, time.Time{})
	require.NoError(t, err)
	c, err = VerifyCredential(raw, t0.Add(100*365*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, []string{"VerifiableCredential"}, c.Types)
	require.Empty(t, c.Claims)
	require.True(t, c.ExpiresAt.IsZero())
}

func TestCredentialValidityPeriod(t *testing.T) {
	issuer, subject := newIdentity(t), newIdentity(t)
	raw := issue(t, issuer, subject.DID(), map[string]any{"a": "b"})
	for _, tc := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"at start", t0, nil},
		{"inside", t0.Add(30 * time.Minute), nil},
		{"last instant", t0.Add(time.Hour - time.Nanosecond), nil},
		{"before start", t0.Add(-time.Nanosecond), ErrNotYetValid},
		{"long before", t0.Add(-24 * time.Hour), ErrNotYetValid},
		{"at expiry", t0.Add(time.Hour), ErrExpired},
		{"after expiry", t0.Add(48 * time.Hour), ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := VerifyCredential(raw, tc.now)
			if tc.want == nil {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, c)
		})
	}
}

// tamper replaces the first old in raw with new, and fails if there is none.
func tamper(t testing.TB, raw []byte, old, new string) []byte {
	t.Helper()
	s := string(raw)
	require.Contains(t, s, old)
	return []byte(strings.Replace(s, old, new, 1))
}

// reformat parses raw and re-encodes it after mutate: a tamperer who edits
// the JSON.
func reformat(t testing.TB, raw []byte, mutate func(map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	mutate(doc)
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	return b
}

func TestVerifyCredentialRejects(t *testing.T) {
	issuer, subject, other := newIdentity(t), newIdentity(t), newIdentity(t)
	claims := map[string]any{"name": "edge-1", "cores": 64, "zones": []string{"a", "b"}, "limits": map[string]any{"gpu": true}}
	raw := issue(t, issuer, subject.DID(), claims)
	byOther := issue(t, other, subject.DID(), claims)
	now := t0.Add(time.Minute)
	subj := func(doc map[string]any) map[string]any { return doc["credentialSubject"].(map[string]any) }
	proof := func(doc map[string]any) map[string]any { return doc["proof"].(map[string]any) }

	for _, tc := range []struct {
		name string
		raw  []byte
		want error
		msg  string
	}{
		// Tampering: any change to what was signed breaks the signature.
		{"claim value", tamper(t, raw, `"edge-1"`, `"edge-2"`), ErrBadSignature, "does not verify"},
		{"claim number", tamper(t, raw, `"cores":64`, `"cores":65`), ErrBadSignature, "does not verify"},
		{"claim type", tamper(t, raw, `"cores":64`, `"cores":"64"`), ErrBadSignature, "does not verify"},
		{"nested claim", tamper(t, raw, `"gpu":true`, `"gpu":false`), ErrBadSignature, "does not verify"},
		{"array element", tamper(t, raw, `["a","b"]`, `["a","c"]`), ErrBadSignature, "does not verify"},
		{"array shortened", tamper(t, raw, `["a","b"]`, `["a"]`), ErrBadSignature, "does not verify"},
		{"claim added", reformat(t, raw, func(d map[string]any) { subj(d)["admin"] = true }), ErrBadSignature, "does not verify"},
		{"claim removed", reformat(t, raw, func(d map[string]any) { delete(subj(d), "name") }), ErrBadSignature, "does not verify"},
		{"subject changed", tamper(t, raw, subject.DID(), other.DID()), ErrBadSignature, "does not verify"},
		{"type changed", tamper(t, raw, `"TestCredential"`, `"AdminCredential"`), ErrBadSignature, "does not verify"},
		{"type removed", reformat(t, raw, func(d map[string]any) { d["type"] = "VerifiableCredential" }), ErrBadSignature, "does not verify"},
		{"id changed", reformat(t, raw, func(d map[string]any) { d["id"] = "urn:uuid:00000000-0000-4000-8000-000000000000" }), ErrBadSignature, "does not verify"},
		{"expiry extended", reformat(t, raw, func(d map[string]any) { d["expirationDate"] = t0.Add(1000 * time.Hour).Format(time.RFC3339) }), ErrBadSignature, "does not verify"},
		{"expiry removed", reformat(t, raw, func(d map[string]any) { delete(d, "expirationDate") }), ErrBadSignature, "does not verify"},
		{"issuance moved", reformat(t, raw, func(d map[string]any) { d["issuanceDate"] = t0.Add(-time.Hour).Format(time.RFC3339) }), ErrBadSignature, "does not verify"},
		{"proof created moved", reformat(t, raw, func(d map[string]any) { proof(d)["created"] = t0.Add(time.Hour).Format(time.RFC3339) }), ErrBadSignature, "does not verify"},
		{"signature changed", reformat(t, raw, func(d map[string]any) {
			jws := proof(d)["jws"].(string)
			i := strings.LastIndex(jws, ".") + 5
			c := byte('A')
			if jws[i] == 'A' {
				c = 'B'
			}
			proof(d)["jws"] = jws[:i] + string(c) + jws[i+1:]
		}), ErrBadSignature, "does not verify"},

		// Wrong issuer key.
		{"issuer claims another DID", reformat(t, byOther, func(d map[string]any) {
			d["issuer"] = issuer.DID()
			proof(d)["verificationMethod"] = issuer.KeyID()
		}), ErrBadSignature, "does not verify with the key of its issuer " + issuer.DID()},
		{"proof by a key not the issuer's", reformat(t, byOther, func(d map[string]any) { d["issuer"] = issuer.DID() }), ErrBadSignature, "not by the issuer's key"},
		{"verification method other key id", reformat(t, raw, func(d map[string]any) { proof(d)["verificationMethod"] = issuer.DID() + "#key-1" }), ErrBadSignature, "not by the issuer's key"},

		// Proof form.
		{"unknown proof type", tamper(t, raw, `"Ed25519Signature2018"`, `"Ed25519Signature2020"`), ErrUnsupported, `proof type "Ed25519Signature2020"`},
		{"BBS proof", tamper(t, raw, `"Ed25519Signature2018"`, `"BbsBlsSignature2020"`), ErrUnsupported, "only Ed25519Signature2018"},
		{"JWS proof", tamper(t, raw, `"Ed25519Signature2018"`, `"JsonWebSignature2020"`), ErrUnsupported, "only Ed25519Signature2018"},
		{"no proof", reformat(t, raw, func(d map[string]any) { delete(d, "proof") }), ErrMalformed, "no proof"},
		{"two proofs", reformat(t, raw, func(d map[string]any) { d["proof"] = []any{d["proof"], d["proof"]} }), ErrMalformed, "one object"},
		{"proof without type", reformat(t, raw, func(d map[string]any) { delete(proof(d), "type") }), ErrMalformed, "no type"},
		{"proof value instead of jws", reformat(t, raw, func(d map[string]any) { proof(d)["proofValue"] = "z1"; delete(proof(d), "jws") }), ErrMalformed, `unexpected member "proofValue"`},
		{"proof purpose", reformat(t, raw, func(d map[string]any) { proof(d)["proofPurpose"] = "authentication" }), ErrMalformed, "purpose"},
		{"jws alg", reformat(t, raw, func(d map[string]any) {
			jws := proof(d)["jws"].(string)
			proof(d)["jws"] = b64.EncodeToString([]byte(`{"alg":"ES256","b64":false,"crit":["b64"]}`)) + jws[strings.Index(jws, ".."):]
		}), ErrUnsupported, "jws algorithm ES256"},
		{"jws not detached", reformat(t, raw, func(d map[string]any) { proof(d)["jws"] = "a.b.c" }), ErrMalformed, "detached JWS"},

		// Form.
		{"not JSON", []byte("not json"), ErrMalformed, "not JSON"},
		{"JSON array", []byte(`[1]`), ErrMalformed, "not a JSON object"},
		{"JWT", []byte(`"eyJhbGciOiJub25lIn0.eyJ2YyI6e319."`), ErrMalformed, "not a JSON object"},
		{"trailing data", append(append([]byte{}, raw...), " {}"...), ErrMalformed, "trailing data"},
		{"duplicate member", tamper(t, raw, `"cores":64`, `"cores":64,"cores":64`), ErrMalformed, `duplicate JSON member "cores"`},
		{"extra context", reformat(t, raw, func(d map[string]any) { d["@context"] = append(d["@context"].([]any), "https://example.com/ctx") }), ErrMalformed, "@context must be"},
		{"inline context", reformat(t, raw, func(d map[string]any) {
			d["@context"] = []any{CredentialsContext, map[string]any{"@vocab": "https://evil.example/#"}}
		}), ErrMalformed, "@context must be"},
		{"context in claims", reformat(t, raw, func(d map[string]any) { subj(d)["@context"] = map[string]any{"name": "https://evil.example/#n"} }), ErrMalformed, `claim name "@context"`},
		{"claim by full IRI", tamper(t, raw, `"name":`, `"https://lattice.dev/ns/credentials#name":`), ErrMalformed, "claim name"},
		{"unexpected member", reformat(t, raw, func(d map[string]any) {
			d["credentialSchema"] = map[string]any{"id": "https://evil.example/s", "type": "JsonSchemaValidator2018"}
		}), ErrMalformed, `unexpected member "credentialSchema"`},
		{"credential status", reformat(t, raw, func(d map[string]any) {
			d["credentialStatus"] = map[string]any{"id": "https://x.example/1", "type": "X"}
		}), ErrMalformed, `unexpected member "credentialStatus"`},
		{"bad id", reformat(t, raw, func(d map[string]any) { d["id"] = "https://example.com/1" }), ErrMalformed, "urn:uuid"},
		{"no type", reformat(t, raw, func(d map[string]any) { delete(d, "type") }), ErrMalformed, "credential type"},
		{"issuer object", reformat(t, raw, func(d map[string]any) { d["issuer"] = map[string]any{"id": issuer.DID()} }), ErrMalformed, "issuer must be a DID string"},
		{"issuer did:web", reformat(t, raw, func(d map[string]any) { d["issuer"] = "did:web:example.com" }), ErrUnsupported, "only did:key"},
		{"no issuance date", reformat(t, raw, func(d map[string]any) { delete(d, "issuanceDate") }), ErrMalformed, "issuanceDate"},
		{"bad issuance date", reformat(t, raw, func(d map[string]any) { d["issuanceDate"] = "yesterday" }), ErrMalformed, "issuanceDate"},
		{"expires before issued", reformat(t, raw, func(d map[string]any) { d["expirationDate"] = t0.Add(-time.Hour).Format(time.RFC3339) }), ErrMalformed, "expires before"},
		{"subject without id", reformat(t, raw, func(d map[string]any) { delete(subj(d), "id") }), ErrMalformed, "no id"},
		{"subject array", reformat(t, raw, func(d map[string]any) { d["credentialSubject"] = []any{subj(d)} }), ErrMalformed, "credentialSubject"},
		{"null claim", reformat(t, raw, func(d map[string]any) { subj(d)["extra"] = nil }), ErrMalformed, "is null"},
		{"reserved claim", reformat(t, raw, func(d map[string]any) { subj(d)["type"] = "Admin" }), ErrMalformed, `"type" is reserved`},
		{"nested arrays", reformat(t, raw, func(d map[string]any) { subj(d)["zones"] = []any{[]any{"a"}} }), ErrMalformed, "may not hold arrays"},
		{"duplicates in array", tamper(t, raw, `["a","b"]`, `["a","b","a"]`), ErrMalformed, "repeats"},
		{"too large", append(append([]byte{}, raw[:len(raw)-1]...), []byte(`,"x":"`+strings.Repeat("a", MaxCredentialSize)+`"}`)...), ErrTooLarge, "max 65536"},
		{"nested too deep", []byte(strings.Repeat(`{"a":`, 20) + `1` + strings.Repeat(`}`, 20)), ErrMalformed, "nested too deeply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := VerifyCredential(tc.raw, now)
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.msg)
			require.NotContains(t, err.Error(), "\n")
			require.Nil(t, c)
		})
	}

	// The originals still verify: nothing above changed them.
	_, err := VerifyCredential(raw, now)
	require.NoError(t, err)
	_, err = VerifyCredential(byOther, now)
	require.NoError(t, err)

	// Arrays are sets to the signature: reordering keeps it valid (see
	// Credential.Claims).
	_, err = VerifyCredential(tamper(t, raw, `["a","b"]`, `["b","a"]`), now)
	require.NoError(t, err)
}

func TestIssueCredentialRejects(t *testing.T) {
	issuer, subject := newIdentity(t), newIdentity(t)
	deep := map[string]any{"v": 1}
	for i := 0; i <= MaxClaimDepth; i++ {
		deep = map[string]any{"n": deep}
	}
	many := map[string]any{}
	for i := 0; i <= MaxClaimObjects; i++ {
		many[fmt.Sprintf("o%d", i)] = map[string]any{"v": i}
	}
	values := make([]any, MaxClaimValues+1)
	for i := range values {
		values[i] = i
	}
	for _, tc := range []struct {
		name    string
		issuer  Signer
		subject string
		claims  map[string]any
		types   []string
		from    time.Time
		until   time.Time
		want    error
		msg     string
	}{
		{name: "issuer did:web", issuer: signerFunc{"did:web:x", issuer.Sign}, msg: "issuer", want: ErrUnsupported},
		{name: "bad subject", subject: "did:key:nope", msg: "subject", want: ErrMalformed},
		{name: "reserved claim", claims: map[string]any{"id": "x"}, msg: `"id" is reserved`, want: ErrMalformed},
		{name: "claim with @", claims: map[string]any{"@type": "x"}, msg: "claim name", want: ErrMalformed},
		{name: "claim with colon", claims: map[string]any{"ex:a": "x"}, msg: "claim name", want: ErrMalformed},
		{name: "claim starting with digit", claims: map[string]any{"1a": "x"}, msg: "claim name", want: ErrMalformed},
		{name: "nested bad name", claims: map[string]any{"a": map[string]any{"b c": 1}}, msg: `"b c"`, want: ErrMalformed},
		{name: "null", claims: map[string]any{"a": nil}, msg: "claim a is null", want: ErrMalformed},
		{name: "null in array", claims: map[string]any{"a": []any{"x", nil}}, msg: "claim a[1] is null", want: ErrMalformed},
		{name: "nested arrays", claims: map[string]any{"a": [][]int{{1}}}, msg: "may not hold arrays", want: ErrMalformed},
		{name: "duplicates", claims: map[string]any{"a": []any{map[string]any{"x": 1}, map[string]any{"x": 1}}}, msg: "repeats", want: ErrMalformed},
		{name: "too deep", claims: deep, msg: "nests deeper", want: ErrMalformed},
		{name: "too many objects", claims: many, msg: "more than 16 objects", want: ErrMalformed},
		{name: "too many values", claims: map[string]any{"a": values}, msg: "more than 256 values", want: ErrMalformed},
		{name: "not JSON", claims: map[string]any{"a": make(chan int)}, msg: "claims"},
		{name: "reserved type", types: []string{"VerifiablePresentation"}, msg: "reserved", want: ErrMalformed},
		{name: "bad type", types: []string{"https://evil.example/T"}, msg: "credential type", want: ErrMalformed},
		{name: "too many types", types: []string{"A", "B", "C", "D", "E", "F", "G", "H"}, msg: "max 8"},
		{name: "no start", from: time.Time{}, msg: "no validity start"},
		{name: "ends before start", until: t0.Add(-time.Second), msg: "before it starts"},
		{name: "ends at start", until: t0.Add(time.Millisecond), msg: "before it starts"},
		{name: "key not the DID's", issuer: signerFunc{issuer.DID(), subject.Sign}, msg: "does not verify", want: ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.issuer == nil {
				tc.issuer = issuer
			}
			if tc.subject == "" {
				tc.subject = subject.DID()
			}
			if tc.from.IsZero() && tc.name != "no start" {
				tc.from = t0
			}
			if tc.until.IsZero() {
				tc.until = t0.Add(time.Hour)
			}
			raw, err := IssueCredential(tc.issuer, tc.subject, tc.claims, tc.types, tc.from, tc.until)
			require.Error(t, err)
			require.Nil(t, raw)
			require.Contains(t, err.Error(), tc.msg)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}

// TestClaimLimits issues and verifies claims at the limits.
func TestClaimLimits(t *testing.T) {
	issuer, subject := newIdentity(t), newIdentity(t)
	// Objects nested MaxClaimDepth deep, in arrays at every level.
	deep := map[string]any{"v": 1}
	for i := 1; i < MaxClaimDepth; i++ {
		deep = map[string]any{"n": []any{deep, "x"}}
	}
	values := make([]any, MaxClaimValues-1)
	for i := range values {
		values[i] = i
	}
	objects := map[string]any{}
	for i := 0; i < MaxClaimObjects-MaxClaimDepth; i++ {
		objects[fmt.Sprintf("o%d", i)] = map[string]any{"v": true}
	}
	for name, claims := range map[string]map[string]any{
		"depth":   {"deep": deep},
		"values":  {"values": values},
		"objects": objects,
		"name":    {strings.Repeat("a", 64): "x", "a-b_C9": "y"},
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := IssueCredential(issuer, subject.DID(), claims, nil, t0, time.Time{})
			require.NoError(t, err)
			c, err := VerifyCredential(raw, t0)
			require.NoError(t, err)
			want, err := json.Marshal(claims)
			require.NoError(t, err)
			got, err := json.Marshal(c.Claims)
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(got))
		})
	}
	_, err := IssueCredential(issuer, subject.DID(), map[string]any{strings.Repeat("a", 65): "x"}, nil, t0, time.Time{})
	require.ErrorIs(t, err, ErrMalformed)
}

// TestVerifierIsOffline: verification works with the network unreachable;
// the contexts come from the binary. An HTTP proxy pointing nowhere makes
// any attempt to fetch fail.
func TestVerifierIsOffline(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	issuer, subject := newIdentity(t), newIdentity(t)
	v, err := NewVerifier()
	require.NoError(t, err)
	raw, err := v.issue(issuer, subject.DID(), map[string]any{"a": "b"}, nil, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	_, err = v.VerifyCredential(raw, t0)
	require.NoError(t, err)
}

// TestVerifierConcurrent shares one Verifier (and its context cache)
// between goroutines; run with -race.
func TestVerifierConcurrent(t *testing.T) {
	issuer, subject := newIdentity(t), newIdentity(t)
	v, err := NewVerifier()
	require.NoError(t, err)
	raws := make([][]byte, 4)
	for i := range raws {
		raws[i], err = v.issue(issuer, subject.DID(), map[string]any{"i": i, "o": map[string]any{"k": "v"}}, []string{"TestCredential"}, t0, t0.Add(time.Hour))
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				c, err := v.VerifyCredential(raws[(g+i)%len(raws)], t0)
				require.NoError(t, err)
				require.Equal(t, float64((g+i)%len(raws)), c.Claims["i"])
				_, err = v.VerifyCredential(tamper(t, raws[0], `"v"`, `"w"`), t0)
				require.ErrorIs(t, err, ErrBadSignature)
			}
		}()
	}
	wg.Wait()
}
