package planjob

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDocCacheDecodesEachRevisionOnce(t *testing.T) {
	t.Parallel()
	var c docCache
	id := uuid.Must(uuid.NewV7())
	v1 := json.RawMessage(`{"steps":[{"name":"one","request":{"method":"GET","url":"http://127.0.0.1/"}}]}`)
	v2 := json.RawMessage(`{"steps":[{"name":"two","request":{"method":"GET","url":"http://127.0.0.1/"}}]}`)

	a, err := c.get(id, 1, v1)
	require.NoError(t, err)
	b, err := c.get(id, 1, v1)
	require.NoError(t, err)
	assert.Same(t, a, b, "one revision is decoded once")
	assert.Equal(t, "one", a.Steps[0].Name)

	other, err := c.get(id, 2, v2)
	require.NoError(t, err)
	assert.NotSame(t, a, other)
	assert.Equal(t, "two", other.Steps[0].Name, "a new revision is decoded afresh")

	_, err = c.get(uuid.Must(uuid.NewV7()), 1, json.RawMessage(`{"steps":`))
	require.Error(t, err, "an unreadable document is an error")
	assert.Len(t, c.docs, 2, "and is not kept")
}

func TestDocCacheStaysWithinItsBound(t *testing.T) {
	t.Parallel()
	var c docCache
	big := json.RawMessage(`{"description":"` + strings.Repeat("x", maxCachedDocBytes) + `"}`)
	id := uuid.Must(uuid.NewV7())
	a, err := c.get(id, 1, big)
	require.NoError(t, err)
	b, err := c.get(id, 1, big)
	require.NoError(t, err)
	assert.NotSame(t, a, b, "a document over the bound is never kept")
	assert.Zero(t, c.bytes)

	half := json.RawMessage(`{"description":"` + strings.Repeat("y", maxCachedDocBytes/2) + `"}`)
	_, err = c.get(uuid.Must(uuid.NewV7()), 1, half)
	require.NoError(t, err)
	_, err = c.get(uuid.Must(uuid.NewV7()), 1, half)
	require.NoError(t, err)
	assert.Len(t, c.docs, 1, "the cache starts afresh when the next document would not fit")
	assert.LessOrEqual(t, c.bytes, maxCachedDocBytes)
}
