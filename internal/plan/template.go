package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// EnvPrefix starts a template reference to an environment variable, as in
// {{env.API_HOST}}.
const EnvPrefix = "env."

// SecretPrefix starts a template reference to a stored secret, as in
// {{secret.API_TOKEN}}.
const SecretPrefix = "secret."

// Errors returned, wrapped, by Expand, References and the Body methods.
var (
	// ErrUnclosedTemplate means a {{ has no matching }}.
	ErrUnclosedTemplate = errors.New("unclosed {{")
	// ErrInvalidReference means the text between {{ and }} is not a
	// variable name, env.NAME or secret.NAME.
	ErrInvalidReference = errors.New("invalid template reference")
	// ErrUnknownVariable means the lookup function does not know a name.
	ErrUnknownVariable = errors.New("unknown variable")
	// ErrTooLarge means the expanded text would be larger than the limit
	// given to Expand. The error wrapping it names the limit.
	ErrTooLarge = errors.New("expanded text is too large")
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
			return fmt.Errorf("%w %q at offset %d: expected {{name}}, {{env.NAME}} or {{secret.NAME}}",
				ErrInvalidReference, truncate(s[start:end], 60), start)
		}
		if err := fn(start, end, name); err != nil {
			return err
		}
		i = end
	}
}

// validReference reports whether name is a variable name, env.NAME or
// secret.NAME.
func validReference(name string) bool {
	if rest, ok := strings.CutPrefix(name, EnvPrefix); ok {
		name = rest
	} else {
		name = strings.TrimPrefix(name, SecretPrefix)
	}
	return len(name) <= MaxNameLength && namePattern.MatchString(name)
}

// Expand replaces each {{name}}, {{ name }}, {{env.NAME}} or
// {{secret.NAME}} in s with the value lookup returns for the name (for env
// references the name passed is "env.NAME", for secrets "secret.NAME"). Values are inserted as they are and are not expanded again.
//
// The result may be at most limit bytes long. The size is checked before
// each piece is written, so Expand stops as soon as the output would pass
// the limit and never builds a larger string. It returns an error wrapping
// ErrTooLarge if the output would be larger than limit, ErrUnknownVariable if
// lookup does not know a name, ErrUnclosedTemplate if a {{ is not closed, and
// ErrInvalidReference if a reference is not a valid name.
func Expand(s string, lookup func(name string) (string, bool), limit int) (string, error) {
	if !strings.Contains(s, "{{") {
		if len(s) > limit {
			return "", tooLarge(limit)
		}
		return s, nil
	}
	var b strings.Builder
	last := 0
	write := func(piece string) error {
		if b.Len()+len(piece) > limit {
			return tooLarge(limit)
		}
		b.WriteString(piece)
		return nil
	}
	err := scanTemplates(s, func(start, end int, name string) error {
		value, ok := lookup(name)
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownVariable, name)
		}
		if err := write(s[last:start]); err != nil {
			return err
		}
		last = end
		return write(value)
	})
	if err == nil {
		err = write(s[last:])
	}
	if err != nil {
		return "", err
	}
	return b.String(), nil
}

// tooLarge returns an error wrapping ErrTooLarge that names the limit.
func tooLarge(limit int) error {
	return fmt.Errorf("%w: larger than %s", ErrTooLarge, FormatSize(limit))
}

// FormatSize writes a size in bytes for messages: "1 MiB", "8 KiB" or
// "100 bytes".
func FormatSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// References returns the names referenced by templates in s, each once, in
// order of first use. Environment references are returned as "env.NAME" and
// secret references as "secret.NAME". It
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
//
// The body as sent may be at most limit bytes long: the decoded text of a
// body written as a JSON string, or the JSON text of any other body (see
// Body.SentSize). Sizes are checked while expanding, so Expand never builds
// a body much larger than limit. It returns the errors of Expand, including
// one wrapping ErrTooLarge.
func (b Body) Expand(lookup func(name string) (string, bool), limit int) (Body, error) {
	if _, ok := b.Text(); ok {
		return b.expandText(lookup, limit)
	}
	out := make([]byte, 0, min(len(b), limit))
	last := 0
	err := eachJSONLiteral(b, func(start, end int, s string) error {
		if !strings.Contains(s, "{{") {
			return nil
		}
		out = append(out, b[last:start]...)
		last = end
		// The escaped text is never shorter than the raw text, so the raw
		// expansion may use at most what is left after the quotes.
		expanded, err := Expand(s, lookup, max(limit-len(out)-2, 0))
		if err != nil {
			return err
		}
		if len(out)+jsonStringLen(expanded) > limit {
			return tooLarge(limit)
		}
		out = appendJSONString(out, expanded)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out)+len(b)-last > limit {
		return nil, tooLarge(limit)
	}
	if last == 0 {
		return b, nil
	}
	return append(out, b[last:]...), nil
}

// expandText expands a body written as one JSON string, whose decoded text
// is what is sent.
func (b Body) expandText(lookup func(name string) (string, bool), limit int) (Body, error) {
	text, _ := b.Text()
	if !strings.Contains(text, "{{") {
		if len(text) > limit {
			return nil, tooLarge(limit)
		}
		return b, nil
	}
	expanded, err := Expand(text, lookup, limit)
	if err != nil {
		return nil, err
	}
	return appendJSONString(make([]byte, 0, jsonStringLen(expanded)), expanded), nil
}

// SentSize returns the size in bytes of the body as sent after expansion,
// without building it: the decoded text of a body written as a JSON string,
// or the JSON text of any other body. lookup is as for Expand, except that a
// name it does not know counts as empty, so the result is a lower bound when
// some values are unknown. The body must be valid JSON with valid templates;
// otherwise SentSize returns the error Body.References would. Sizes add up
// exactly only when the values are valid UTF-8.
func (b Body) SentSize(lookup func(name string) (string, bool)) (int, error) {
	if text, ok := b.Text(); ok {
		return TemplateSize(text, lookup)
	}
	total := len(b)
	err := eachJSONLiteral(b, func(start, end int, s string) error {
		if !strings.Contains(s, "{{") {
			return nil
		}
		n := 2 // the quotes
		err := scanPieces(s, func(literal string) {
			n += jsonStringLen(literal) - 2
		}, func(name string) {
			if value, ok := lookup(name); ok {
				n += jsonStringLen(value) - 2
			}
		})
		if err != nil {
			return err
		}
		total += n - (end - start)
		return nil
	})
	return total, err
}

// TemplateSize returns the length in bytes that Expand would give s, without
// building it. lookup is as for Expand, except that a name it does not know
// counts as empty, so the result is a lower bound when some values are
// unknown. It returns the syntax errors of References.
func TemplateSize(s string, lookup func(name string) (string, bool)) (int, error) {
	total := 0
	err := scanPieces(s, func(literal string) { total += len(literal) }, func(name string) {
		if value, ok := lookup(name); ok {
			total += len(value)
		}
	})
	return total, err
}

// scanPieces calls literal for each run of text outside templates and ref for
// each reference in s, in order.
func scanPieces(s string, literal func(string), ref func(name string)) error {
	last := 0
	err := scanTemplates(s, func(start, end int, name string) error {
		literal(s[last:start])
		ref(name)
		last = end
		return nil
	})
	if err != nil {
		return err
	}
	literal(s[last:])
	return nil
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

// jsonStringLen returns the length of appendJSONString(nil, s) without
// building it. It follows encoding/json: ", \\, \n, \r, \t, \b and \f take
// two bytes, other control characters, U+2028 and U+2029 six, and each byte
// of invalid UTF-8 becomes \ufffd (six bytes).
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}
