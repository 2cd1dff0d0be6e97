package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxLedgerRequestBytes bounds a ledger append request: the largest
// payload (64 KiB) plus JSON framing and escaping.
const maxLedgerRequestBytes = 256 << 10

// LedgerAppendRequest asks the member to sign and append an entry to its
// ledger feed.
type LedgerAppendRequest struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// LedgerAppendResult names the appended entry.
type LedgerAppendResult struct {
	Author string `json:"author"`
	Seq    uint64 `json:"seq"`
	Hash   string `json:"hash"`
}

// LedgerAppender signs and appends an entry to the member's feed. Errors
// wrapping ErrBadRequest are the caller's fault (400); others are 500.
type LedgerAppender func(ctx context.Context, typ string, payload []byte) (LedgerAppendResult, error)

// ErrBadRequest marks an appender error caused by the request.
var ErrBadRequest = errors.New("bad request")

// WithLedger serves POST /v1/ledger/append with fn.
func WithLedger(fn LedgerAppender) Option { return func(h *handler) { h.ledger = fn } }

func (h *handler) ledgerAppend(w http.ResponseWriter, r *http.Request) {
	if h.ledger == nil {
		writeError(w, http.StatusConflict, "this member has no identity, so it keeps no ledger feed; create one with 'lattice did create' while it is stopped")
		return
	}
	var req LedgerAppendRequest
	if err := decodeBody(w, r, maxLedgerRequestBytes, &req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over %d KiB", maxLedgerRequestBytes>>10))
			return
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`malformed ledger append request: %v; want {"type":"...","payload":{...}}`, err))
		return
	}
	if req.Type == "" || len(req.Payload) == 0 {
		writeError(w, http.StatusBadRequest, `malformed ledger append request: "type" and "payload" are required`)
		return
	}
	res, err := h.ledger(r.Context(), req.Type, req.Payload)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrBadRequest) {
			code = http.StatusBadRequest
		}
		writeError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// LedgerAppend asks the member to sign and append an entry to its feed.
func (c *Client) LedgerAppend(ctx context.Context, typ string, payload []byte) (LedgerAppendResult, error) {
	var res LedgerAppendResult
	body, err := json.Marshal(LedgerAppendRequest{Type: typ, Payload: payload})
	if err != nil {
		return res, err
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/ledger/append", nil, body)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&res); err != nil {
		return res, fmt.Errorf("member at %s: bad ledger append response: %w", c.path, err)
	}
	return res, nil
}
