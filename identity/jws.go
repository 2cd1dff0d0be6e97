package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// MaxJWSSize is the largest compact JWS VerifyJWS accepts, in bytes.
const MaxJWSSize = 1 << 20

// jwsAlg is the only JWS algorithm signed and accepted: Ed25519 (RFC 8037).
const jwsAlg = "EdDSA"

// b64 is strict unpadded base64url: it rejects padding, other alphabets and
// non-zero trailing bits, so every JWS has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// SignJWS signs payload as signer's DID and returns a JWS in compact
// serialization (RFC 7515): BASE64URL(header).BASE64URL(payload).BASE64URL(signature),
// with header {"alg":"EdDSA","kid":"<DID>#<fingerprint>"}.
func SignJWS(signer Signer, payload []byte) (string, error) {
	if len(payload) > MaxJWSSize {
		return "", tooLarge("JWS payload", len(payload), MaxJWSSize)
	}
	kid, err := KeyID(signer.DID())
	if err != nil {
		return "", fmt.Errorf("sign JWS: signer: %w", err)
	}
	hdr, err := json.Marshal(jwsHeader{Alg: jwsAlg, Kid: kid})
	if err != nil {
		return "", fmt.Errorf("sign JWS: %w", err)
	}
	hlen, plen := b64.EncodedLen(len(hdr)), b64.EncodedLen(len(payload))
	buf := make([]byte, hlen+1+plen, hlen+1+plen+1+b64.EncodedLen(ed25519.SignatureSize))
	b64.Encode(buf, hdr)
	buf[hlen] = '.'
	b64.Encode(buf[hlen+1:], payload)
	sig, err := signer.Sign(buf)
	if err != nil {
		return "", fmt.Errorf("sign JWS: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return "", fmt.Errorf("sign JWS: signer returned a %d-byte signature, want an Ed25519 signature (%d bytes)", len(sig), ed25519.SignatureSize)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	if len(buf) > MaxJWSSize {
		return "", tooLarge("JWS", len(buf), MaxJWSSize)
	}
	return string(buf), nil
}

// VerifyJWS verifies a compact JWS made by SignJWS and returns its payload
// and the DID that signed it. The key is the one of the did:key DID named
// by the header's kid. It rejects input larger than MaxJWSSize
// (ErrTooLarge); bad encoding, a missing or malformed kid, and duplicate
// header members (ErrMalformed); an algorithm other than EdDSA, a kid that
// is not a did:key with an Ed25519 key, and critical header extensions
// (ErrUnsupported); and a signature that does not verify (ErrBadSignature).
func VerifyJWS(compact string) (payload []byte, signerDID string, err error) {
	if len(compact) > MaxJWSSize {
		return nil, "", tooLarge("JWS", len(compact), MaxJWSSize)
	}
	h, rest, ok1 := strings.Cut(compact, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, "", malformed("JWS: want compact serialization, three base64url parts separated by '.'")
	}
	hdrJSON, err := b64.DecodeString(h)
	if err != nil {
		return nil, "", malformed("JWS header is not base64url")
	}
	if err := checkJSON(hdrJSON, 4); err != nil {
		return nil, "", malformed("JWS header: %v", err)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return nil, "", malformed("JWS header: %v", err)
	}
	var alg, kid string
	if err := headerString(hdr, "alg", &alg); err != nil {
		return nil, "", err
	}
	if alg != jwsAlg {
		return nil, "", unsupported("JWS algorithm %s: only %s is accepted", quoteShort(alg), jwsAlg)
	}
	for _, name := range []string{"crit", "b64"} {
		if _, ok := hdr[name]; ok {
			return nil, "", unsupported("JWS header parameter %q", name)
		}
	}
	if err := headerString(hdr, "kid", &kid); err != nil {
		return nil, "", err
	}
	did, fragment, ok := strings.Cut(kid, "#")
	if !ok {
		return nil, "", malformed("JWS kid %s: want DID#KEY-ID", quoteShort(kid))
	}
	pub, msid, err := parseDIDKey(did)
	if err != nil {
		return nil, "", fmt.Errorf("JWS kid: %w", err)
	}
	if fragment != msid {
		return nil, "", malformed("JWS kid %s: a did:key has one key, #%s", quoteShort(kid), msid)
	}
	payload, err = b64.DecodeString(p)
	if err != nil {
		return nil, "", malformed("JWS payload is not base64url")
	}
	sig, err := b64.DecodeString(s)
	if err != nil {
		return nil, "", malformed("JWS signature is not base64url")
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, "", malformed("JWS signature is %d bytes, an Ed25519 signature is %d", len(sig), ed25519.SignatureSize)
	}
	// The signing input is the first two parts as they appear.
	if !ed25519.Verify(pub, []byte(compact[:len(h)+1+len(p)]), sig) {
		return nil, "", fmt.Errorf("%w: JWS signature does not verify with the key of %s", ErrBadSignature, did)
	}
	return payload, did, nil
}

func headerString(hdr map[string]json.RawMessage, name string, v *string) error {
	raw, ok := hdr[name]
	if !ok {
		return malformed("JWS header has no %q", name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return malformed("JWS header %q is not a string", name)
	}
	return nil
}
