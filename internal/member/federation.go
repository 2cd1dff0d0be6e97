package member

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/internal/fsutil"
)

// Files naming the federation a member belongs to.
const (
	// FederationFileName holds the federation's name and founder.
	FederationFileName = "federation.json"
	// MembershipFileName holds the member's own membership credential (none
	// for the founder).
	MembershipFileName = "membership.json"
)

// maxFederationFileSize bounds what ReadFederation reads.
const maxFederationFileSize = 4 << 10

// Federation is the content of DIR/federation.json.
type Federation struct {
	Name    string    `json:"name"`
	Founder string    `json:"founder"`
	Created time.Time `json:"created"`
}

// FederationPath returns the federation file of data directory dir.
func FederationPath(dir string) string { return filepath.Join(dir, FederationFileName) }

// MembershipPath returns the membership credential file of data directory dir.
func MembershipPath(dir string) string { return filepath.Join(dir, MembershipFileName) }

// ReadFederation reads and checks the federation file of data directory
// dir. A missing file matches fs.ErrNotExist.
func ReadFederation(dir string) (*Federation, error) {
	path := FederationPath(dir)
	raw, err := ReadLimited(path, maxFederationFileSize)
	if err != nil {
		return nil, err
	}
	if len(raw) > maxFederationFileSize {
		return nil, fmt.Errorf("%s: more than %d bytes", path, maxFederationFileSize)
	}
	var f Federation
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", path, err)
	}
	if err := identity.ValidateName(f.Name); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", path, err)
	}
	if _, _, err := identity.Resolve(f.Founder); err != nil {
		return nil, fmt.Errorf("%s is damaged: founder: %v", path, err)
	}
	if f.Created.IsZero() {
		return nil, fmt.Errorf("%s is damaged: no creation time", path)
	}
	return &f, nil
}

// WriteFederation creates the federation file of dir (mode 0600); it
// fails with fs.ErrExist if there is one.
func WriteFederation(dir string, f *Federation) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return fsutil.WriteFile(FederationPath(dir), append(raw, '\n'), 0o600, true)
}

// ReadLimited reads the file at path, or its first max+1 bytes if it is
// larger, so that the caller's size check refuses it without reading it all.
func ReadLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max+1))
}

// ReadMembership reads the member's own membership credential; a missing
// file matches fs.ErrNotExist.
func ReadMembership(dir string) ([]byte, error) {
	path := MembershipPath(dir)
	raw, err := ReadLimited(path, identity.MaxCredentialSize)
	if err != nil {
		return nil, err
	}
	if len(raw) > identity.MaxCredentialSize {
		return nil, fmt.Errorf("%s: more than %d bytes", path, identity.MaxCredentialSize)
	}
	return raw, nil
}

// InstallCredential makes data directory dir (holding identity id) a
// member of the federation that credential raw admits it to: it checks the
// credential (signature, validity now, issued to id), then writes
// membership.json and, if absent, federation.json naming the founder the
// credential names. An existing federation.json must agree.
func InstallCredential(dir string, id *identity.Identity, raw []byte, now time.Time) (*Federation, error) {
	if len(raw) > identity.MaxCredentialSize {
		return nil, fmt.Errorf("credential: %d bytes, max %d", len(raw), identity.MaxCredentialSize)
	}
	raw = bytes.TrimSpace(raw)
	c, err := identity.VerifyCredential(raw, now)
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	fedName, _ := c.Claims["federation"].(string)
	m, err := identity.VerifyMembership(raw, fedName, now)
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if m.Subject != id.DID() {
		return nil, fmt.Errorf("credential %s admits %s, not this member (%s)", m.ID, m.Subject, id.DID())
	}
	have, err := ReadFederation(dir)
	switch {
	case err == nil:
		if have.Name != m.Federation {
			return nil, fmt.Errorf("%s belongs to federation %s; the credential is for %s", dir, have.Name, m.Federation)
		}
	case errors.Is(err, fs.ErrNotExist):
		if m.Founder == "" {
			return nil, fmt.Errorf("credential %s does not name the federation's founder; ask for a new one ('lattice invite' names it)", m.ID)
		}
		have = &Federation{Name: m.Federation, Founder: m.Founder, Created: now.UTC().Truncate(time.Second)}
		if err := WriteFederation(dir, have); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("write federation file: %w", err)
		}
	default:
		return nil, err
	}
	if have.Founder == id.DID() {
		return nil, fmt.Errorf("this member founded federation %s; it needs no credential", have.Name)
	}
	if err := fsutil.WriteFile(MembershipPath(dir), append(raw, '\n'), 0o600, false); err != nil {
		return nil, fmt.Errorf("write membership credential: %w", err)
	}
	return have, nil
}
