package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJWSRoundTrip(t *testing.T) {
	id := newIdentity(t)
	for _, payload := range [][]byte{
		nil,
		[]byte("hello"),
		{0, 1, 2, 0xff, '.', '='},
		[]byte(strings.Repeat("x", 100<<10)),
	} {
		jws, err := SignJWS(id, payload)
		require.NoError(t, err)
		require.Equal(t, 2, strings.Count(jws, "."))
		got, did, err := VerifyJWS(jws)
		require.NoError(t, err)
		require.Equal(t, id.DID(), did)
		require.Equal(t, string(payload), string(got))
	}

	jws, err := SignJWS(id, []byte("x"))
	require.NoError(t, err)
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(jws, ".")[0])
	require.NoError(t, err)
	require.JSONEq(t, `{"alg":"EdDSA","kid":"`+id.KeyID()+`"}`, string(hdr))
}

// signerFunc is a Signer for tests.
type signerFunc struct {
	did  string
	sign func([]byte) ([]byte, error)
}

func (s signerFunc) DID() string                   { return s.did }
func (s signerFunc) Sign(p []byte) ([]byte, error) { return s.sign(p) }

func TestSignJWSErrors(t *testing.T) {
	id := newIdentity(t)
	_, err := SignJWS(signerFunc{did: "did:web:example.com", sign: id.Sign}, nil)
	require.ErrorIs(t, err, ErrUnsupported)
	_, err = SignJWS(signerFunc{did: id.DID(), sign: func([]byte) ([]byte, error) { return []byte{1}, nil }}, nil)
	require.ErrorContains(t, err, "1-byte signature")
	boom := errors.New("hsm offline")
	_, err = SignJWS(signerFunc{did: id.DID(), sign: func([]byte) ([]byte, error) { return nil, boom }}, nil)
	require.ErrorIs(t, err, boom)
	_, err = SignJWS(id, make([]byte, MaxJWSSize+1))
	require.ErrorIs(t, err, ErrTooLarge)
}

// rawJWS builds a compact JWS from a header, payload and signing key, as an
// attacker could.
func rawJWS(header string, payload []byte, priv ed25519.PrivateKey) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload)
	return input + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(input)))
}

func TestVerifyJWSRejects(t *testing.T) {
	id := newIdentity(t)
	other := newIdentity(t)
	priv := id.priv.key
	good, err := SignJWS(id, []byte("payload"))
	require.NoError(t, err)
	parts := strings.Split(good, ".")
	hdr := func(s string) string { return rawJWS(s, []byte("payload"), priv) }
	kid := `"kid":"` + id.KeyID() + `"`
	flip := func(s string, i int) string { // change one base64 character
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	p256 := didKeyOf(0x1200, append([]byte{2}, make([]byte, 32)...))

	for _, tc := range []struct {
		name, jws string
		want      error
		msg       string
	}{
		{"empty", "", ErrMalformed, "three base64url parts"},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed, "three base64url parts"},
		{"four parts", good + ".x", ErrMalformed, "three base64url parts"},
		{"JSON serialization", `{"payload":"x","signatures":[]}`, ErrMalformed, "three base64url parts"},
		{"header not base64", "!!!." + parts[1] + "." + parts[2], ErrMalformed, "header is not base64url"},
		{"header padded", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed, "header is not base64url"},
		{"header not JSON", hdr("nope"), ErrMalformed, "JWS header"},
		{"header array", hdr(`["EdDSA"]`), ErrMalformed, "not a JSON object"},
		{"header trailing", hdr(`{"alg":"EdDSA",` + kid + `} x`), ErrMalformed, "JWS header"},
		{"duplicate alg", hdr(`{"alg":"none","alg":"EdDSA",` + kid + `}`), ErrMalformed, `duplicate JSON member "alg"`},
		{"duplicate kid", hdr(`{"alg":"EdDSA",` + kid + `,"kid":"did:key:x#y"}`), ErrMalformed, `duplicate JSON member "kid"`},
		{"no alg", hdr(`{` + kid + `}`), ErrMalformed, `no "alg"`},
		{"alg not a string", hdr(`{"alg":1,` + kid + `}`), ErrMalformed, `"alg" is not a string`},
		{"alg none", hdr(`{"alg":"none",` + kid + `}`), ErrUnsupported, `JWS algorithm "none"`},
		{"alg HS256", hdr(`{"alg":"HS256",` + kid + `}`), ErrUnsupported, `JWS algorithm "HS256"`},
		{"alg ES256", hdr(`{"alg":"ES256",` + kid + `}`), ErrUnsupported, "only EdDSA"},
		{"alg lower case", hdr(`{"alg":"eddsa",` + kid + `}`), ErrUnsupported, "only EdDSA"},
		{"crit", hdr(`{"alg":"EdDSA",` + kid + `,"crit":["exp"]}`), ErrUnsupported, `"crit"`},
		{"unencoded payload", hdr(`{"alg":"EdDSA",` + kid + `,"b64":false}`), ErrUnsupported, `"b64"`},
		{"no kid", hdr(`{"alg":"EdDSA"}`), ErrMalformed, `no "kid"`},
		{"kid without fragment", hdr(`{"alg":"EdDSA","kid":"` + id.DID() + `"}`), ErrMalformed, "want DID#KEY-ID"},
		{"kid wrong fragment", hdr(`{"alg":"EdDSA","kid":"` + id.DID() + `#key-1"}`), ErrMalformed, "has one key"},
		{"kid other DID's fragment", hdr(`{"alg":"EdDSA","kid":"` + id.DID() + `#` + strings.TrimPrefix(other.DID(), "did:key:") + `"}`), ErrMalformed, "has one key"},
		{"kid not a DID", hdr(`{"alg":"EdDSA","kid":"key-1#x"}`), ErrMalformed, "not a DID"},
		{"kid did:web", hdr(`{"alg":"EdDSA","kid":"did:web:example.com#key-1"}`), ErrUnsupported, "only did:key"},
		{"kid P-256 did:key", hdr(`{"alg":"EdDSA","kid":"` + p256 + `#x"}`), ErrUnsupported, "P-256 key"},
		{"kid too large", hdr(`{"alg":"EdDSA","kid":"did:key:z` + strings.Repeat("a", 300) + `#x"}`), ErrTooLarge, "DID is"},
		{"payload not base64", parts[0] + ".*." + parts[2], ErrMalformed, "payload is not base64url"},
		{"signature not base64", parts[0] + "." + parts[1] + ".***", ErrMalformed, "signature is not base64url"},
		{"signature non-canonical bits", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B", ErrMalformed, "signature is not base64url"},
		{"signature short", parts[0] + "." + parts[1] + "." + parts[2][:40], ErrMalformed, "signature is 30 bytes"},
		{"signature missing", parts[0] + "." + parts[1] + ".", ErrMalformed, "signature is 0 bytes"},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("pAyload")) + "." + parts[2], ErrBadSignature, id.DID()},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2], 3), ErrBadSignature, "does not verify"},
		{"signed by another key", rawJWS(`{"alg":"EdDSA",`+kid+`}`, []byte("payload"), other.priv.key), ErrBadSignature, "does not verify"},
		{"header changed after signing", base64.RawURLEncoding.EncodeToString([]byte(`{"kid":"`+id.KeyID()+`","alg":"EdDSA"}`)) + "." + parts[1] + "." + parts[2], ErrBadSignature, "does not verify"},
		{"too large", strings.Repeat("a", MaxJWSSize+1), ErrTooLarge, "max 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload, did, err := VerifyJWS(tc.jws)
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.msg)
			require.NotContains(t, err.Error(), "\n")
			require.Nil(t, payload)
			require.Empty(t, did)
		})
	}

	// Unknown, non-critical header members are ignored (RFC 7515).
	payload, did, err := VerifyJWS(hdr(`{"typ":"JOSE","alg":"EdDSA",` + kid + `,"x5u":"https://example.com"}`))
	require.NoError(t, err)
	require.Equal(t, id.DID(), did)
	require.Equal(t, "payload", string(payload))
}
