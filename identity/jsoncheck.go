package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// checkJSON checks that data is exactly one JSON object, nested at most
// maxDepth deep, with no duplicate member names. Parsers disagree on
// duplicates (first or last wins), so a signed document with duplicates
// could mean one thing to the signature check and another to its reader.
func checkJSON(data []byte, maxDepth int) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return errors.New("not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	if err := checkObject(dec, 1, maxDepth); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// checkObject reads the members of an object whose '{' was just read.
func checkObject(dec *json.Decoder, depth, maxDepth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("invalid JSON")
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		name, ok := tok.(string)
		if !ok {
			return errors.New("invalid JSON")
		}
		if seen[name] {
			return errors.New("duplicate JSON member " + quoteShort(name))
		}
		seen[name] = true
		if err := checkValue(dec, depth, maxDepth); err != nil {
			return err
		}
	}
}

func checkValue(dec *json.Decoder, depth, maxDepth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.New("invalid JSON")
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return checkObject(dec, depth+1, maxDepth)
	case '[':
		if depth+1 > maxDepth {
			return errors.New("JSON nested too deeply")
		}
		for dec.More() {
			if err := checkValue(dec, depth+1, maxDepth); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errors.New("invalid JSON")
		}
		return nil
	default:
		return errors.New("invalid JSON")
	}
}

// quoteShort quotes s for an error message, cut to 64 bytes.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
