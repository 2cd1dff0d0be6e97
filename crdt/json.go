package crdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// decodeObject parses an API object: a JSON object within the size and
// depth limits. Numbers keep their exact text (json.Number) so int64
// quantities survive the round trip.
func decodeObject(b []byte, lim Limits) (map[string]any, error) {
	if len(b) > lim.MaxObjectBytes {
		return nil, fmt.Errorf("object is %d bytes, max %d", len(b), lim.MaxObjectBytes)
	}
	if !utf8.Valid(b) {
		// encoding/json would silently turn each bad byte into U+FFFD,
		// tripling its size.
		return nil, fmt.Errorf("object is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("object is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("object has trailing data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("object must be a JSON object, got %s", jsonTypeName(v))
	}
	if d := jsonDepth(obj); d > lim.MaxDepth {
		return nil, fmt.Errorf("object nests %d levels deep, max %d", d, lim.MaxDepth)
	}
	return obj, nil
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

func jsonDepth(v any) int {
	max := 0
	switch t := v.(type) {
	case map[string]any:
		for _, c := range t {
			if d := jsonDepth(c); d > max {
				max = d
			}
		}
		return max + 1
	case []any:
		for _, c := range t {
			if d := jsonDepth(c); d > max {
				max = d
			}
		}
		return max + 1
	}
	return 0
}

// appendJSONValue appends the canonical JSON of a decoded value: object keys
// sorted, no insignificant whitespace, HTML characters not escaped.
func appendJSONValue(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, t)
	case json.Number:
		return append(b, t...)
	case float64: // not produced by decodeObject; kept for completeness
		return strconv.AppendFloat(b, t, 'g', -1, 64)
	case string:
		return appendQuoted(b, t)
	case []any:
		b = append(b, '[')
		for i, c := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONValue(b, c)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, k)
			b = append(b, ':')
			b = appendJSONValue(b, t[k])
		}
		return append(b, '}')
	}
	panic(fmt.Sprintf("crdt: unexpected JSON value type %T", v))
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
