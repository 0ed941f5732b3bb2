package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCanonicalNumber(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   json.Number
		want json.Number
	}{
		{"0", "0"},
		{"-0.0", "0"},
		{"0e7", "0"},
		{"100", "1e2"},
		{"1e2", "1e2"},
		{"10E+1", "1e2"},
		{"100.000", "1e2"},
		{"0.010", "1e-2"},
		{"1e-2", "1e-2"},
		{"-2.50", "-25e-1"},
		{"12345678901234567890", "1234567890123456789e1"},
		{"12345678901234567891", "12345678901234567891e0"},
		{"1e999999999", "1e999999999"},
		// An exponent beyond 32 bits is left as written.
		{"1e99999999999", "1e99999999999"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, canonicalNumber(c.in), "%s", c.in)
	}
}

func TestSameRetention(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	cases := []struct {
		file, stored *string
		want         bool
	}{
		{nil, nil, true},
		{nil, s("30d"), false},
		{s("30d"), nil, false},
		{s("14d"), s("14d"), true},
		{s("336h"), s("14d"), true},
		{s("14d"), s("30d"), false},
		{s("0"), s("0"), true},
		{s("36h"), s("36h0m0s"), true},
	}
	for _, c := range cases {
		require.Equal(t, c.want, sameRetention(c.file, c.stored), "%v %v", c.file, c.stored)
	}
}
