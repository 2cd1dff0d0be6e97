package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/manifest"
)

// Action says what applying an object did.
type Action string

// Actions, as kubectl apply names them.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
)

// ApplyResult is the outcome of applying one object: Action and
// ResourceVersion on success, Error otherwise.
type ApplyResult struct {
	Key             string `json:"key"`
	ResourceVersion uint64 `json:"resourceVersion,omitempty"`
	Action          Action `json:"action,omitempty"`
	Error           string `json:"error,omitempty"`
}

// Status summarizes a member's store.
type Status struct {
	ID              string `json:"id"`
	ResourceVersion uint64 `json:"resourceVersion"`
	Objects         int    `json:"objects"`
	// Members is the gossip membership view (self included), when the
	// member gossips.
	Members []string `json:"members,omitempty"`
}

// DumpLine is one line of a dump. ResourceVersion is nil in canonical
// dumps.
type DumpLine struct {
	Key             string          `json:"key"`
	ResourceVersion *uint64         `json:"resourceVersion,omitempty"`
	Generation      uint64          `json:"generation"`
	Value           json.RawMessage `json:"value"`
}

// Apply upserts objs in order, in one durable batch. An object is
// "created" if its key was not live, "unchanged" if the write changed
// nothing, and "configured" otherwise; its generation is bumped when it is
// new or its spec changed. Each object succeeds or fails on its own
// (ApplyResult.Error); the error return is for failures of the whole call
// (store closed or failed, ctx done), and then nothing was written.
//
// A write that races with Apply between its read of the current objects
// and the batch (a concurrent apply, later a gossiped delta) can make an
// action or generation decision stale; the stored state is still a valid
// CRDT merge.
func Apply(ctx context.Context, st *crdt.Store, objs []manifest.Object) ([]ApplyResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type state struct {
		exists bool
		rv     uint64
	}
	initial := make(map[crdt.Key]state, len(objs))
	specs := make(map[crdt.Key]any, len(objs)) // spec before the next op on the key
	ops := make([]crdt.Op, len(objs))
	for i, o := range objs {
		spec, seen := specs[o.Key]
		if !seen {
			obj, err := st.Get(o.Key)
			switch {
			case err == nil:
				initial[o.Key] = state{exists: true, rv: obj.ResourceVersion}
				spec = specOf(obj.Value)
			case errors.Is(err, crdt.ErrNotFound):
				initial[o.Key] = state{}
			default:
				return nil, err
			}
		}
		newSpec := specOf(o.JSON)
		exists := initial[o.Key].exists || seen
		ops[i] = crdt.Op{Key: o.Key, Value: o.JSON, Put: crdt.PutOptions{
			Mode:           crdt.PutUpsert,
			BumpGeneration: !exists || !reflect.DeepEqual(spec, newSpec),
		}}
		// A repeat of a key in objs compares against this op's spec; if
		// this op fails the repeat can at worst bump the generation
		// without need, never miss a bump.
		specs[o.Key] = newSpec
	}
	res, err := st.Batch(ctx, ops)
	if err != nil {
		return nil, err
	}
	out := make([]ApplyResult, len(objs))
	cur := initial
	for i, o := range objs {
		out[i].Key = string(o.Key)
		if res[i].Err != nil {
			out[i].Error = res[i].Err.Error()
			continue
		}
		s, rv := cur[o.Key], res[i].Object.ResourceVersion
		switch {
		case !s.exists:
			out[i].Action = Created
		case rv == s.rv:
			out[i].Action = Unchanged
		default:
			out[i].Action = Configured
		}
		out[i].ResourceVersion = rv
		cur[o.Key] = state{exists: true, rv: rv}
	}
	return out, nil
}

// specOf returns the decoded "spec" of a JSON object (nil if absent or the
// JSON is not an object), numbers as json.Number so that equal text
// compares equal.
func specOf(b []byte) any {
	var v struct {
		Spec any `json:"spec"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	return v.Spec
}

// StatusOf summarizes st.
func StatusOf(st *crdt.Store) (Status, error) {
	objs, rv, err := st.List("")
	if err != nil {
		return Status{}, err
	}
	return Status{ID: string(st.ID()), ResourceVersion: rv, Objects: len(objs)}, nil
}

// Dump writes every live object of st as one JSON line, sorted by key; see
// DumpLine. With canonical, resourceVersion is left out.
func Dump(w io.Writer, st *crdt.Store, canonical bool) error {
	objs, _, err := st.List("")
	if err != nil {
		return err
	}
	return DumpObjects(w, objs, canonical)
}

// DumpObjects writes objs (sorted by key, as Store.List returns them) in
// the dump format.
func DumpObjects(w io.Writer, objs []crdt.Object, canonical bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, o := range objs {
		line := DumpLine{Key: string(o.Key), Generation: o.Generation, Value: o.Value}
		if !canonical {
			rv := o.ResourceVersion
			line.ResourceVersion = &rv
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
