package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/lattice-federation/lattice/crdt"
)

// MaxInputBytes bounds what Parse reads from one file.
const MaxInputBytes = 64 << 20

// MaxObjectBytes bounds the normalized JSON of one object: the store's limit
// (etcd's default request limit).
var MaxObjectBytes = crdt.DefaultLimits().MaxObjectBytes

// maxErrors is how many invalid objects a ParseError names before it only
// counts the rest.
const maxErrors = 3

// Object is one validated object, ready to store.
type Object struct {
	// Origin says where the object came from for messages, e.g.
	// "web.yaml: object 2 (line 14)". Empty for objects built by Normalize.
	Origin     string
	APIVersion string
	Kind       string
	// Group is the API group: apiVersion up to the "/", "" for the core
	// group.
	Group     string
	Namespace string // "" for cluster-scoped kinds
	Name      string
	Key       crdt.Key
	// JSON is the normalized object.
	JSON []byte
}

// DisplayName names the object as kubectl does: "kind.group/name", or
// "kind/name" in the core group, kind in lower case.
func (o Object) DisplayName() string {
	r := strings.ToLower(o.Kind)
	if o.Group != "" {
		r += "." + o.Group
	}
	return r + "/" + o.Name
}

// ClusterScoped reports whether objects of kind have no namespace. Until
// the API server registers resource scopes, Member is the only
// cluster-scoped kind.
func ClusterScoped(kind string) bool { return kind == "Member" }

// ObjectError is a problem with one object of an input file.
type ObjectError struct {
	File string
	// Index is the object's 1-based position in the file (List items count
	// one each); 0 when the error is not about one object (a syntax error).
	Index int
	// Where adds detail to the position, e.g. "line 14" or
	// "List item 2, line 10".
	Where string
	Err   error
}

func (e *ObjectError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteString(": ")
	if e.Index > 0 {
		fmt.Fprintf(&b, "object %d", e.Index)
		if e.Where != "" {
			fmt.Fprintf(&b, " (%s)", e.Where)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ObjectError) Unwrap() error { return e.Err }

// ParseError reports every invalid object of an input, on one line.
type ParseError struct {
	Errs []*ObjectError
}

func (e *ParseError) Error() string {
	var parts []string
	for i, oe := range e.Errs {
		if i == maxErrors {
			parts[len(parts)-1] += fmt.Sprintf(" (and %d more errors)", len(e.Errs)-maxErrors)
			break
		}
		parts = append(parts, oe.Error())
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns the individual errors.
func (e *ParseError) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, oe := range e.Errs {
		out[i] = oe
	}
	return out
}

// Parse reads every object of the file called name from r: YAML documents,
// or JSON when the input starts with "{". Nothing is returned unless every
// object is valid; the error (a *ParseError) then lists the invalid ones by
// file and position. Empty YAML documents are skipped; an input without
// any object is an error.
func Parse(r io.Reader, name string) ([]Object, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	if len(data) > MaxInputBytes {
		return nil, fmt.Errorf("%s: input is larger than %d MiB; split it into several files", name, MaxInputBytes>>20)
	}
	return ParseBytes(data, name)
}

// ParseBytes is Parse on data in memory.
func ParseBytes(data []byte, name string) ([]Object, error) {
	p := &parser{file: name}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	switch trimmed := bytes.TrimLeft(data, " \t\r\n"); {
	case len(trimmed) > 0 && trimmed[0] == '{':
		p.parseJSON(data)
	case len(trimmed) > 0 && trimmed[0] == '[':
		p.fail(0, "", errors.New("a top-level JSON array is not supported; wrap the objects in a List (kind: List, items: [...])"))
	default:
		p.parseYAML(data)
	}
	if len(p.errs) > 0 {
		return nil, &ParseError{Errs: p.errs}
	}
	if len(p.objs) == 0 {
		return nil, fmt.Errorf("%s: no objects found", name)
	}
	return p.objs, nil
}

type parser struct {
	file  string
	index int
	objs  []Object
	errs  []*ObjectError
}

func (p *parser) fail(index int, where string, err error) {
	p.errs = append(p.errs, &ObjectError{File: p.file, Index: index, Where: where, Err: err})
}

// add validates one decoded document (an object or a List) found at line.
func (p *parser) add(v any, line int) {
	where := fmt.Sprintf("line %d", line)
	m, ok := v.(map[string]any)
	if !ok {
		p.index++
		p.fail(p.index, where, fmt.Errorf("expected an object, got %s", typeName(v)))
		return
	}
	if isList(m) {
		items, ok := m["items"].([]any)
		if !ok {
			p.index++
			p.fail(p.index, where, fmt.Errorf("%s: items must be a list, got %s", m["kind"], typeName(m["items"])))
			return
		}
		for i, it := range items {
			p.index++
			w := fmt.Sprintf("%s item %d, line %d", m["kind"], i+1, line)
			im, ok := it.(map[string]any)
			if !ok {
				p.fail(p.index, w, fmt.Errorf("expected an object, got %s", typeName(it)))
				continue
			}
			if isList(im) {
				p.fail(p.index, w, errors.New("a List inside a List is not supported"))
				continue
			}
			p.addObject(im, w)
		}
		return
	}
	p.index++
	p.addObject(m, where)
}

func (p *parser) addObject(m map[string]any, where string) {
	obj, err := Normalize(m)
	if err != nil {
		p.fail(p.index, where, err)
		return
	}
	obj.Origin = fmt.Sprintf("%s: object %d (%s)", p.file, p.index, where)
	p.objs = append(p.objs, obj)
}

// isList reports whether m is a list of objects to expand: kind List, or a
// kind ending in "List" that carries an items array (e.g.
// FederatedDeploymentList from 'kubectl get -o yaml').
func isList(m map[string]any) bool {
	kind, _ := m["kind"].(string)
	if kind == "List" {
		return true
	}
	_, hasItems := m["items"].([]any)
	return strings.HasSuffix(kind, "List") && hasItems
}

// parseJSON reads a stream of JSON values.
func (p *parser) parseJSON(data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		start := int(dec.InputOffset())
		for start < len(data) && strings.IndexByte(" \t\r\n", data[start]) >= 0 {
			start++
		}
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				err = fmt.Errorf("invalid JSON at line %d: %v", lineAt(data, int(se.Offset)), se)
			} else if errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("invalid JSON: unexpected end of input (the object starting at line %d is not closed)", lineAt(data, start))
			} else {
				err = fmt.Errorf("invalid JSON at line %d: %v", lineAt(data, start), err)
			}
			p.fail(0, "", err)
			return
		}
		p.add(v, lineAt(data, start))
	}
}

func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// Normalize validates one decoded object (numbers as json.Number), applies
// the defaults and returns it with its key and JSON. It modifies m.
func Normalize(m map[string]any) (Object, error) {
	var o Object
	var err error
	if o.APIVersion, err = stringField(m, "apiVersion"); err != nil {
		return o, err
	}
	if o.Kind, err = stringField(m, "kind"); err != nil {
		return o, err
	}
	if o.Group, err = parseAPIVersion(o.APIVersion); err != nil {
		return o, err
	}
	if !kindRE.MatchString(o.Kind) || len(o.Kind) > 63 {
		return o, fmt.Errorf("kind %q is invalid: it must start with a letter and contain only letters and digits (at most 63)", o.Kind)
	}
	if isList(m) {
		return o, fmt.Errorf("kind %s is a list; apply its items", o.Kind)
	}
	meta, ok := m["metadata"].(map[string]any)
	if !ok {
		if _, present := m["metadata"]; present {
			return o, fmt.Errorf("metadata must be an object, got %s", typeName(m["metadata"]))
		}
		return o, errors.New("metadata.name is missing")
	}
	o.Name, err = stringField(meta, "name")
	if err != nil {
		if _, gen := meta["generateName"]; gen && meta["name"] == nil {
			return o, errors.New("metadata.name is missing (metadata.generateName is not supported by apply)")
		}
		return o, fmt.Errorf("metadata.%v", err)
	}
	if err := validateName(o.Name); err != nil {
		return o, err
	}
	ns, present := meta["namespace"]
	if present && ns != nil {
		s, ok := ns.(string)
		if !ok {
			return o, fmt.Errorf("metadata.namespace must be a string, got %s", typeName(ns))
		}
		o.Namespace = s
	}
	if ClusterScoped(o.Kind) {
		o.Namespace = ""
		delete(meta, "namespace")
	} else {
		if o.Namespace == "" {
			o.Namespace = "default"
		}
		if !isDNSLabel(o.Namespace) {
			return o, fmt.Errorf("metadata.namespace %q is invalid: it must be a lowercase RFC 1123 label (a-z, 0-9 and '-', at most 63 characters)", o.Namespace)
		}
		meta["namespace"] = o.Namespace
	}
	delete(meta, "resourceVersion")
	delete(meta, "generation")

	if o.Key, err = crdt.MakeKey(o.Group, o.Kind, o.Namespace, o.Name); err != nil {
		return o, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return o, fmt.Errorf("encode as JSON: %w", err)
	}
	o.JSON = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(o.JSON) > MaxObjectBytes {
		return o, fmt.Errorf("%s is %s as JSON, over the %s limit per object", o.DisplayName(), size(len(o.JSON)), size(MaxObjectBytes))
	}
	return o, nil
}

// FromJSON decodes and normalizes one JSON object.
func FromJSON(b []byte) (Object, error) {
	if len(b) > MaxObjectBytes*2 {
		// Generous (normalization may shrink whitespace), but bounded
		// before decoding.
		return Object{}, fmt.Errorf("object is %s, over the %s limit per object", size(len(b)), size(MaxObjectBytes))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Object{}, fmt.Errorf("object is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Object{}, errors.New("object has trailing data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return Object{}, fmt.Errorf("expected an object, got %s", typeName(v))
	}
	return Normalize(m)
}

func size(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

func stringField(m map[string]any, field string) (string, error) {
	v, ok := m[field]
	if !ok || v == nil {
		return "", fmt.Errorf("%s is missing", field)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, got %s", field, typeName(v))
	}
	if s == "" {
		return "", fmt.Errorf("%s is empty", field)
	}
	return s, nil
}

var (
	kindRE       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
	dnsLabelRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	jsonNumberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
)

func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabelRE.MatchString(s) }

func isDNSSubdomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !isDNSLabel(l) {
			return false
		}
	}
	return true
}

// parseAPIVersion returns the group of "GROUP/VERSION" ("" for "VERSION").
func parseAPIVersion(av string) (string, error) {
	group, version, hasGroup := strings.Cut(av, "/")
	if !hasGroup {
		group, version = "", av
	}
	switch {
	case hasGroup && group == "":
		return "", fmt.Errorf("apiVersion %q is invalid: the group before \"/\" is empty", av)
	case hasGroup && !isDNSSubdomain(group):
		return "", fmt.Errorf("apiVersion %q is invalid: group %q must be a lowercase DNS name", av, group)
	case !isDNSLabel(version):
		return "", fmt.Errorf("apiVersion %q is invalid: it must be VERSION (core group, e.g. v1) or GROUP/VERSION (e.g. federation.lattice.dev/v1alpha1)", av)
	}
	return group, nil
}

// validateName applies Kubernetes' rules for any object name (the
// apiserver's path-segment check); kinds may restrict further.
func validateName(name string) error {
	switch {
	case len(name) > 253:
		return fmt.Errorf("metadata.name is %d characters, max 253", len(name))
	case name == "." || name == "..":
		return fmt.Errorf("metadata.name %q is not allowed", name)
	case strings.ContainsAny(name, "/%"):
		return fmt.Errorf("metadata.name %q must not contain '/' or '%%'", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("metadata.name %q contains a control character", name)
		}
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
