package storagetest_test

import (
	"hash/fnv"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// maxCursorLen mirrors DecodeCursor's length limit.
const maxCursorLen = 256

// FuzzDecodeCursor checks that no input makes the cursor decoders panic,
// that they fail only with ErrInvalidInput, and that whatever EncodeCursor
// produces decodes back to the same cursor. The seed corpus is in
// testdata/fuzz/FuzzDecodeCursor.
func FuzzDecodeCursor(f *testing.F) {
	f.Add("")
	f.Add(storage.EncodeCursor(storage.Cursor{List: storage.ListJobs, Seq: 42}))
	f.Add(storage.EncodeCursor(storage.Cursor{List: storage.ListPlans, ID: "0192f3a4-5b6c-7d8e-9f01-23456789abcd"}))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := storage.DecodeCursor(s)
		switch {
		case err != nil:
			require.ErrorIs(t, err, storage.ErrInvalidInput)
			require.Equal(t, storage.Cursor{}, c, "a failed decode returns the zero cursor")
		case s == "":
			require.Equal(t, storage.Cursor{}, c, "the empty cursor is the first page")
		default:
			require.True(t, c.ID != "" || c.Seq > 0, "decoded a cursor with no key: %+v", c)
			// A decoded cursor encodes to a canonical form that decodes
			// back to it, unless escaping made it too long.
			if enc := storage.EncodeCursor(c); len(enc) <= maxCursorLen {
				back, err := storage.DecodeCursor(enc)
				require.NoError(t, err)
				require.Equal(t, c, back)
			}
		}

		if _, err := storage.DecodeUUIDCursor(s, storage.ListPlans); err != nil {
			require.ErrorIs(t, err, storage.ErrInvalidInput)
		}
		if n, err := storage.DecodeSeqCursor(s, storage.ListJobs); err != nil {
			require.ErrorIs(t, err, storage.ErrInvalidInput)
		} else if s != "" {
			require.Positive(t, n, "a seq cursor decoded to %d", n)
		}

		// The input as a key round-trips through EncodeCursor.
		if s != "" && utf8.ValidString(s) {
			c := storage.Cursor{ID: s}
			if enc := storage.EncodeCursor(c); len(enc) <= maxCursorLen {
				back, err := storage.DecodeCursor(enc)
				require.NoError(t, err)
				require.Equal(t, c, back)
			}
		}
		id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(s))
		gotID, err := storage.DecodeUUIDCursor(storage.EncodeCursor(storage.Cursor{List: storage.ListPlans, ID: id.String()}), storage.ListPlans)
		require.NoError(t, err)
		require.Equal(t, id, gotID)

		h := fnv.New64a()
		_, _ = h.Write([]byte(s))
		seq := int64(h.Sum64()%math.MaxInt64) + 1
		gotSeq, err := storage.DecodeSeqCursor(storage.EncodeCursor(storage.Cursor{List: storage.ListJobs, Seq: seq}), storage.ListJobs)
		require.NoError(t, err)
		require.Equal(t, seq, gotSeq)
	})
}
