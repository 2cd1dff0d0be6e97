package crdt

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Key addresses one object in the store: "group/kind/namespace/name". The
// group is empty for Kubernetes' core group and the namespace is empty for
// cluster-scoped objects; kind and name are always set.
type Key string

// MaxKeyLen bounds a key: Kubernetes names are at most 253 bytes, namespaces
// 63, and groups and kinds are short.
const MaxKeyLen = 768

// MakeKey joins the four parts of a key and validates the result.
func MakeKey(group, kind, namespace, name string) (Key, error) {
	k := Key(group + "/" + kind + "/" + namespace + "/" + name)
	if err := k.Validate(); err != nil {
		return "", err
	}
	return k, nil
}

// Parts splits a key into group, kind, namespace and name. It assumes a
// valid key.
func (k Key) Parts() (group, kind, namespace, name string) {
	p := strings.SplitN(string(k), "/", 4)
	for len(p) < 4 {
		p = append(p, "")
	}
	return p[0], p[1], p[2], p[3]
}

// Validate checks the key's shape: four slash-separated segments, non-empty
// kind and name, printable UTF-8, bounded length.
func (k Key) Validate() error {
	if len(k) == 0 {
		return fmt.Errorf("key is empty")
	}
	if len(k) > MaxKeyLen {
		return fmt.Errorf("key is %d bytes, max %d", len(k), MaxKeyLen)
	}
	if !utf8.ValidString(string(k)) {
		return fmt.Errorf("key %q is not valid UTF-8", string(k))
	}
	for _, r := range string(k) {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("key %q contains a control character", string(k))
		}
	}
	p := strings.Split(string(k), "/")
	if len(p) != 4 {
		return fmt.Errorf("key %q must have the form group/kind/namespace/name", string(k))
	}
	if p[1] == "" {
		return fmt.Errorf("key %q has an empty kind", string(k))
	}
	if p[3] == "" {
		return fmt.Errorf("key %q has an empty name", string(k))
	}
	return nil
}

// ValidatePrefix checks a List/Watch prefix: any leading part of a key.
func ValidatePrefix(prefix string) error {
	if len(prefix) > MaxKeyLen {
		return fmt.Errorf("prefix is %d bytes, max %d", len(prefix), MaxKeyLen)
	}
	if !utf8.ValidString(prefix) {
		return fmt.Errorf("prefix %q is not valid UTF-8", prefix)
	}
	if strings.Count(prefix, "/") > 3 {
		return fmt.Errorf("prefix %q has more than four segments", prefix)
	}
	return nil
}
