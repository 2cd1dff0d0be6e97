package identity

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Every refusal wraps one of them (some
// wrap two, e.g. a broken membership chain matches both ErrNoChain and
// ErrRevoked when a revoked credential broke it), so callers decide with
// errors.Is and show the message, which says what exactly was wrong.
var (
	// ErrMalformed: the input is not a well-formed DID, key file, JWS or
	// credential of the kind this package issues.
	ErrMalformed = errors.New("malformed input")
	// ErrTooLarge: the input exceeds the size limit for its kind
	// (MaxDIDSize, MaxJWSSize, MaxCredentialSize).
	ErrTooLarge = errors.New("input too large")
	// ErrUnsupported: well-formed but of a kind this package does not accept:
	// a DID method other than did:key, a key type other than Ed25519, a JWS
	// algorithm other than EdDSA, a proof type other than
	// Ed25519Signature2018.
	ErrUnsupported = errors.New("unsupported")
	// ErrBadSignature: the signature does not verify with the signer's key
	// (forged, tampered with, or made by another key).
	ErrBadSignature = errors.New("signature verification failed")
	// ErrExpired: the credential's validity ended before the time checked.
	ErrExpired = errors.New("credential expired")
	// ErrNotYetValid: the credential's validity starts after the time
	// checked.
	ErrNotYetValid = errors.New("credential not yet valid")
	// ErrRevoked: the credential has been revoked.
	ErrRevoked = errors.New("credential revoked")
	// ErrNoChain: there is no valid, unexpired, unrevoked chain of
	// membership credentials from the founder of the federation to the DID.
	ErrNoChain = errors.New("no valid membership chain")
	// ErrWrongFederation: a membership credential is for another federation.
	ErrWrongFederation = errors.New("membership credential for another federation")
	// ErrNoIdentity: there is no key file in the data directory.
	ErrNoIdentity = errors.New("no identity")
	// ErrIdentityExists: Save refuses to overwrite an existing key file.
	ErrIdentityExists = errors.New("identity already exists")
	// ErrInsecureKeyFile: the key file may be read or written by users other
	// than its owner.
	ErrInsecureKeyFile = errors.New("key file permissions too open")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

func tooLarge(what string, size, limit int) error {
	return fmt.Errorf("%w: %s is %d bytes, max %d", ErrTooLarge, what, size, limit)
}

// recovered converts a panic in third-party parsing code (aries, JSON-LD)
// into ErrMalformed: untrusted input must never crash the process.
func recovered(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s: internal parser failure (%v)", ErrMalformed, what, r)
	}
}
