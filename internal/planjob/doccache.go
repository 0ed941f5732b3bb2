package planjob

import (
	"encoding/json"
	"sync"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/plan"
)

// maxCachedDocBytes bounds the stored documents, in bytes of JSON, that a
// docCache keeps decoded.
const maxCachedDocBytes = 16 << 20

// docKey names one revision of a plan's document.
type docKey struct {
	plan     uuid.UUID
	revision int64
}

// docCache keeps decoded plan documents by plan ID and revision, so that
// the runs of a plan decode its document once: a plan's document never
// changes under one revision (an update makes a new one). What it returns
// is shared by every run of that revision and must not be changed; the
// runner only reads documents, and WithVariables copies what it changes.
// It holds documents of at most maxCachedDocBytes of JSON, and starts
// afresh when the next one would not fit. Its zero value is ready to use.
type docCache struct {
	mu    sync.Mutex
	docs  map[docKey]*plan.Document
	bytes int
}

// get returns the document raw of the plan's revision, decoded. An
// unreadable document is an error, and is not kept.
func (c *docCache) get(id uuid.UUID, revision int64, raw json.RawMessage) (*plan.Document, error) {
	key := docKey{id, revision}
	c.mu.Lock()
	doc := c.docs[key]
	c.mu.Unlock()
	if doc != nil {
		return doc, nil
	}
	doc = &plan.Document{}
	if err := json.Unmarshal(raw, doc); err != nil {
		return nil, err
	}
	if len(raw) > maxCachedDocBytes {
		return doc, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docs == nil || c.bytes+len(raw) > maxCachedDocBytes {
		c.docs, c.bytes = map[docKey]*plan.Document{}, 0
	}
	if _, ok := c.docs[key]; !ok {
		c.docs[key] = doc
		c.bytes += len(raw)
	}
	return doc, nil
}
