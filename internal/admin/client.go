package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/lattice-federation/lattice/internal/manifest"
)

// ErrNoMember means no member is running on a data directory: its admin
// socket is missing or nothing listens on it. Callers may open the store
// directly.
var ErrNoMember = errors.New("no running member")

// NoMemberError is the ErrNoMember that Dial returns.
type NoMemberError struct {
	Dir    string
	Reason string
}

func (e *NoMemberError) Error() string {
	return fmt.Sprintf("no running member on %s: %s", e.Dir, e.Reason)
}

// Is makes errors.Is(err, ErrNoMember) true.
func (e *NoMemberError) Is(target error) bool { return target == ErrNoMember }

// Client talks to a running member's admin socket.
type Client struct {
	dir  string
	path string
	hc   *http.Client
}

// Dial connects to the admin socket of the member whose data directory is
// dir. It returns a *NoMemberError (errors.Is ErrNoMember) when no member
// runs there; any other error means a member may run but cannot be reached
// (e.g. the socket belongs to another user).
func Dial(dir string) (*Client, error) {
	path := SocketPath(dir)
	if err := CheckSocketPath(path); err != nil {
		// A member cannot listen on a path this long.
		return nil, &NoMemberError{Dir: dir, Reason: err.Error()}
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil, &NoMemberError{Dir: dir, Reason: "no admin socket"}
	case err != nil:
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	case fi.Mode()&os.ModeSocket == 0:
		return nil, fmt.Errorf("%s is not a socket; move it away", path)
	}
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist):
		return nil, &NoMemberError{Dir: dir, Reason: "stale admin socket (nothing listens on it)"}
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("admin socket %s: permission denied; run lattice as the user the member runs as", path)
	case err != nil:
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	conn.Close()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
		MaxIdleConns:       2,
		IdleConnTimeout:    30 * time.Second,
	}
	return &Client{dir: dir, path: path, hc: &http.Client{Transport: tr}}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Path returns the socket path.
func (c *Client) Path() string { return c.path }

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte) (*http.Response, error) {
	u := url.URL{Scheme: "http", Host: "lattice-admin", Path: path, RawQuery: query.Encode()}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("member at %s: %w", c.path, errors.Unwrap(err))
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var eb errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := string(bytes.TrimSpace(b))
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		return nil, fmt.Errorf("member at %s: %s (HTTP %d)", c.path, msg, resp.StatusCode)
	}
	return resp, nil
}

// Status returns the member's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil)
	if err != nil {
		return Status{}, err
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("member at %s: bad status response: %w", c.path, err)
	}
	return st, nil
}

// Dump copies the member's dump (see Dump) to w.
func (c *Client) Dump(ctx context.Context, w io.Writer, canonical bool) error {
	q := url.Values{}
	if canonical {
		q.Set("canonical", "1")
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/dump", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("reading dump from member at %s: %w", c.path, err)
	}
	return nil
}

// Apply sends objs to the member, in as many requests as the request size
// limit needs, and returns one result per object, in order. On an error
// the results of the requests that completed are returned with it.
func (c *Client) Apply(ctx context.Context, objs []manifest.Object) ([]ApplyResult, error) {
	out := make([]ApplyResult, 0, len(objs))
	for start := 0; start < len(objs); {
		// {"objects":[ ... ]} plus a comma per object.
		end, size := start, len(`{"objects":[]}`)
		for end < len(objs) && (end == start || size+len(objs[end].JSON)+1 <= MaxRequestBytes) {
			size += len(objs[end].JSON) + 1
			end++
		}
		res, err := c.applyChunk(ctx, objs[start:end])
		if err != nil {
			return out, err
		}
		out = append(out, res...)
		start = end
	}
	return out, nil
}

func (c *Client) applyChunk(ctx context.Context, objs []manifest.Object) ([]ApplyResult, error) {
	req := ApplyRequest{Objects: make([]json.RawMessage, len(objs))}
	for i, o := range objs {
		req.Objects[i] = o.JSON
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(req); err != nil {
		return nil, fmt.Errorf("encode apply request: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/apply", nil, buf.Bytes())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ar ApplyResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&ar); err != nil {
		return nil, fmt.Errorf("member at %s: bad apply response: %w", c.path, err)
	}
	if len(ar.Results) != len(objs) {
		return nil, fmt.Errorf("member at %s: apply answered %d results for %d objects", c.path, len(ar.Results), len(objs))
	}
	return ar.Results, nil
}
