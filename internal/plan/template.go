package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// EnvPrefix starts a template reference to an environment variable, as in
// {{env.API_HOST}}.
const EnvPrefix = "env."

// Errors returned, wrapped, by Expand, References and the Body methods.
var (
	// ErrUnclosedTemplate means a {{ has no matching }}.
	ErrUnclosedTemplate = errors.New("unclosed {{")
	// ErrInvalidReference means the text between {{ and }} is not a
	// variable name or env.NAME.
	ErrInvalidReference = errors.New("invalid template reference")
	// ErrUnknownVariable means the lookup function does not know a name.
	ErrUnknownVariable = errors.New("unknown variable")
)

// scanTemplates calls fn for each {{name}} reference in s, in order, with the
// byte offsets of the whole reference and the trimmed name.
func scanTemplates(s string, fn func(start, end int, name string) error) error {
	i := 0
	for {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			return nil
		}
		start := i + j
		k := strings.Index(s[start+2:], "}}")
		if k < 0 {
			return fmt.Errorf("%w at offset %d", ErrUnclosedTemplate, start)
		}
		end := start + 2 + k + 2
		name := strings.Trim(s[start+2:end-2], " \t")
		if !validReference(name) {
			return fmt.Errorf("%w %q at offset %d: expected {{name}} or {{env.NAME}}",
				ErrInvalidReference, truncate(s[start:end], 60), start)
		}
		if err := fn(start, end, name); err != nil {
			return err
		}
		i = end
	}
}

// validReference reports whether name is a variable name or env.NAME.
func validReference(name string) bool {
	name = strings.TrimPrefix(name, EnvPrefix)
	return len(name) <= MaxNameLength && namePattern.MatchString(name)
}

// Expand replaces each {{name}}, {{ name }} or {{env.NAME}} in s with the
// value lookup returns for the name (for env references the name passed is
// "env.NAME"). Values are inserted as they are and are not expanded again.
// It returns an error wrapping ErrUnknownVariable if lookup does not know a
// name, ErrUnclosedTemplate if a {{ is not closed, and ErrInvalidReference if
// a reference is not a valid name.
func Expand(s string, lookup func(name string) (string, bool)) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var b strings.Builder
	last := 0
	err := scanTemplates(s, func(start, end int, name string) error {
		value, ok := lookup(name)
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownVariable, name)
		}
		b.WriteString(s[last:start])
		b.WriteString(value)
		last = end
		return nil
	})
	if err != nil {
		return "", err
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// References returns the names referenced by templates in s, each once, in
// order of first use. Environment references are returned as "env.NAME". It
// returns the same syntax errors as Expand.
func References(s string) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	err := scanTemplates(s, func(_, _ int, name string) error {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// References returns the names referenced by templates inside the string
// values and object keys of the body, each once, in order of first use.
func (b Body) References() ([]string, error) {
	var names []string
	seen := map[string]bool{}
	err := eachJSONString(b, func(s string) error {
		refs, err := References(s)
		if err != nil {
			return err
		}
		for _, name := range refs {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// Expand returns a copy of the body with the templates inside its string
// values and object keys expanded by Expand. Expanded values are escaped as
// JSON, so they cannot change the structure of the body. Strings without
// templates, and everything outside strings, are copied unchanged.
func (b Body) Expand(lookup func(name string) (string, bool)) (Body, error) {
	out := make([]byte, 0, len(b))
	last := 0
	err := eachJSONLiteral(b, func(start, end int, s string) error {
		if !strings.Contains(s, "{{") {
			return nil
		}
		expanded, err := Expand(s, lookup)
		if err != nil {
			return err
		}
		out = append(out, b[last:start]...)
		out = appendJSONString(out, expanded)
		last = end
		return nil
	})
	if err != nil {
		return nil, err
	}
	if last == 0 {
		return b, nil
	}
	return append(out, b[last:]...), nil
}

// eachJSONString calls fn with the decoded value of each string literal in
// the JSON text b.
func eachJSONString(b []byte, fn func(s string) error) error {
	return eachJSONLiteral(b, func(_, _ int, s string) error { return fn(s) })
}

// eachJSONLiteral calls fn with the byte offsets and decoded value of each
// string literal in the JSON text b. Empty text has no literals. It returns
// an error if b is not valid JSON.
func eachJSONLiteral(b []byte, fn func(start, end int, s string) error) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if !json.Valid(b) {
		return errors.New("body is not valid JSON")
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		j := i + 1
		for b[j] != '"' {
			if b[j] == '\\' {
				j++
			}
			j++
		}
		var s string
		if err := json.Unmarshal(b[i:j+1], &s); err != nil {
			return fmt.Errorf("decode body string: %w", err)
		}
		if err := fn(i, j+1, s); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// appendJSONString appends s to dst as a JSON string literal without HTML
// escaping.
func appendJSONString(dst []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // Encoding a string cannot fail.
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
