package worker

import (
	"strings"
	"unicode/utf8"
)

// MaxErrorBytes is the longest error text the pool records for a failed
// attempt; longer texts are cut at a character boundary and marked.
const MaxErrorBytes = 2048

// truncatedMark ends an error text that was cut to MaxErrorBytes.
const truncatedMark = " [truncated]"

// cleanErrorText makes a handler's error text safe for every store: it
// strips NUL bytes (Postgres text cannot hold them) and invalid UTF-8, and
// cuts the text to MaxErrorBytes.
func cleanErrorText(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
	return truncate(s, MaxErrorBytes)
}

// asciiErrorText is the error text recorded when the store refused the
// cleaned one (a database whose encoding lacks some character, for
// instance): printable ASCII only, other characters replaced by '?'.
func asciiErrorText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t' || (r >= 0x20 && r < 0x7f):
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return truncate(b.String(), MaxErrorBytes)
}

// truncate cuts s to at most n bytes at a character boundary, ending it
// with truncatedMark when it was cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(truncatedMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark
}
