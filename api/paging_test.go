package api

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNextLink(t *testing.T) {
	t.Parallel()
	assert.Nil(t, nextLink("/plan", url.Values{"name": {"x"}}, 50, ""), "no link on the last page")
	assert.Equal(t, []string{`</environment?cursor=abc&limit=10>; rel="next"`},
		nextLink("/environment", nil, 10, "abc"))
	filters := url.Values{"label": {"a:1", "b:2"}, "name": {"smoke test"}}
	assert.Equal(t, []string{`</plan?cursor=c%3D&label=a%3A1&label=b%3A2&limit=2&name=smoke+test>; rel="next"`},
		nextLink("/plan", filters, 2, "c="))
	assert.Len(t, filters, 2, "the caller's filters are not changed")
}
