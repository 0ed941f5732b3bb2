package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// Write-only values that no answer may contain. Channel URLs point at
// 127.0.0.1 (port 9, discard), and nothing is sent to them: saving a
// channel never dials.
const (
	testSecret      = "s3cr3t-signing-key-0123456789"
	testHeaderValue = "Bearer header-token-9f8e7d6c5b4a"
	testSlackPath   = "/services/T0SLACK/B0SLACK/slackpathtoken42"
	testSlackURL    = "http://127.0.0.1:9" + testSlackPath
	testWebhookURL  = "http://127.0.0.1:9/hook"
)

// withPolicy sets the network policy that channel URLs must pass.
func withPolicy(t *testing.T, allow, deny string) envOption {
	p, err := netguard.ParsePolicy(allow, deny)
	require.NoError(t, err)
	return func(d *Deps) { d.TargetPolicy = p }
}

// webhookBody returns a create-channel body of a webhook channel with a
// secret and a header.
func webhookBody(name string) map[string]any {
	return map[string]any{
		"name": name, "kind": "webhook", "url": testWebhookURL,
		"headers": map[string]string{"Authorization": testHeaderValue}, "secret": testSecret,
	}
}

// slackBody returns a create-channel body of a slack channel.
func slackBody(name string) map[string]any {
	return map[string]any{"name": name, "kind": "slack", "url": testSlackURL}
}

// createChannel creates a channel through the API and returns it.
func (e *testEnv) createChannel(body map[string]any) Channel {
	e.t.Helper()
	return created[Channel](e, "/channel", body)
}

// channelCount returns how many channels the store holds.
func (e *testEnv) channelCount() int {
	e.t.Helper()
	page, err := e.raw.ChannelList(context.Background(), &storage.ChannelListParams{Limit: storage.MaxPageLimit})
	require.NoError(e.t, err)
	return len(page.Channels)
}

// storedChannel reads a channel straight from the store.
func (e *testEnv) storedChannel(id uuid.UUID) *storage.Channel {
	e.t.Helper()
	c, err := e.raw.ChannelGetByID(context.Background(), id)
	require.NoError(e.t, err)
	return c
}

// noWriteOnlyValues fails if a response holds a write-only value.
func noWriteOnlyValues(t *testing.T, res *response, what string) {
	t.Helper()
	for _, secret := range []string{testSecret, testHeaderValue, testSlackPath, "slackpathtoken42"} {
		assert.NotContains(t, string(res.Body), secret, "%s: the answer holds a write-only value", what)
		for name, values := range res.Header {
			for _, v := range values {
				assert.NotContains(t, v, secret, "%s: header %s holds a write-only value", what, name)
			}
		}
	}
}

func TestChannelLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	res := e.request(http.MethodPost, "/channel", webhookBody("ops-webhook"))
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))
	var c Channel
	res.decode(t, &c)
	assert.Equal(t, "/channel/"+c.ID.String(), res.Header.Get("Location"))
	assert.Equal(t, "ops-webhook", c.Name)
	assert.Equal(t, "webhook", c.Kind)
	assert.Equal(t, testWebhookURL, c.URL, "a webhook's URL is shown in full")
	assert.Equal(t, []string{"Authorization"}, c.HeaderNames)
	assert.True(t, c.HasSecret)
	assert.Equal(t, int64(1), c.Revision)
	stored := e.storedChannel(c.ID)
	assert.Equal(t, testSecret, stored.Secret, "the store keeps the secret")
	assert.Equal(t, map[string]string{"Authorization": testHeaderValue}, stored.Headers)

	res = e.request(http.MethodGet, "/channel/"+c.ID.String(), nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))
	var got Channel
	res.decode(t, &got)
	assert.Equal(t, c, got)

	slack := e.createChannel(slackBody("ops-slack"))
	assert.Equal(t, "slack", slack.Kind)
	assert.Equal(t, "http://127.0.0.1:9/…", slack.URL, "a slack URL shows only its scheme and host")
	assert.Empty(t, slack.HeaderNames)
	assert.NotNil(t, slack.HeaderNames, "header_names is [] rather than null")
	assert.False(t, slack.HasSecret)

	// A plain webhook: no secret, no headers.
	plain := e.createChannel(map[string]any{"name": "plain", "kind": "webhook", "url": "https://127.0.0.1/x?y=1"})
	assert.False(t, plain.HasSecret)
	assert.Equal(t, "https://127.0.0.1/x?y=1", plain.URL)

	res = e.request(http.MethodPost, "/channel", webhookBody("ops-webhook"))
	assert.Equal(t, http.StatusConflict, res.Status, "names are unique")
	assert.Contains(t, res.problem(t).Detail, `a channel named "ops-webhook" already exists`)

	put := map[string]any{"name": "ops-hook", "kind": "webhook", "url": "http://127.0.0.1:9/other"}
	res = e.request(http.MethodPut, "/channel/"+c.ID.String(), put)
	assert.Equal(t, http.StatusPreconditionRequired, res.Status, "no If-Match")
	res = e.request(http.MethodPut, "/channel/"+c.ID.String(), put, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	assert.Equal(t, `"2"`, res.Header.Get("ETag"))
	var up Channel
	res.decode(t, &up)
	assert.Equal(t, "ops-hook", up.Name)
	assert.Equal(t, "http://127.0.0.1:9/other", up.URL)
	assert.True(t, up.HasSecret, "an omitted secret is kept")
	assert.Equal(t, []string{"Authorization"}, up.HeaderNames, "omitted headers are kept")
	res = e.request(http.MethodPut, "/channel/"+c.ID.String(), put, "If-Match", `"1"`)
	assert.Equal(t, http.StatusPreconditionFailed, res.Status, "stale")
	assert.Equal(t, int64(2), e.storedChannel(c.ID).Revision, "a stale update writes nothing")
	res = e.request(http.MethodPut, "/channel/"+uuid.NewString(), put, "If-Match", `"1"`)
	assert.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no channel has id")
	res = e.request(http.MethodPut, "/channel/"+c.ID.String(), map[string]any{"name": "ops-slack", "kind": "webhook", "url": testWebhookURL}, "If-Match", `"2"`)
	assert.Equal(t, http.StatusConflict, res.Status, "the name of another channel")
	assert.Equal(t, "ops-hook", e.storedChannel(c.ID).Name)

	res = e.request(http.MethodDelete, "/channel/"+c.ID.String(), nil)
	assert.Equal(t, http.StatusNoContent, res.Status)
	res = e.request(http.MethodGet, "/channel/"+c.ID.String(), nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no channel has id "+c.ID.String())
	res = e.request(http.MethodDelete, "/channel/"+c.ID.String(), nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
}

// TestChannelWriteOnlyValuesNeverAppear searches the raw bytes of every
// answer that carries a channel, and of refusals of bodies that hold the
// values, for the secret, a header value and the path of a Slack URL.
func TestChannelWriteOnlyValuesNeverAppear(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	check := func(res *response, what string) {
		t.Helper()
		noWriteOnlyValues(t, res, what)
	}

	res := e.request(http.MethodPost, "/channel", webhookBody("hook"))
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	check(res, "create webhook")
	var hook Channel
	res.decode(t, &hook)
	res = e.request(http.MethodPost, "/channel", slackBody("slack"))
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	check(res, "create slack")
	var slack Channel
	res.decode(t, &slack)

	check(e.request(http.MethodGet, "/channel/"+hook.ID.String(), nil), "get webhook")
	check(e.request(http.MethodGet, "/channel/"+slack.ID.String(), nil), "get slack")
	list := e.request(http.MethodGet, "/channel", nil)
	require.Equal(t, http.StatusOK, list.Status)
	check(list, "list")

	res = e.request(http.MethodPut, "/channel/"+hook.ID.String(), webhookBody("hook"), "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	check(res, "update webhook")
	res = e.request(http.MethodPut, "/channel/"+slack.ID.String(), slackBody("slack"), "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	check(res, "update slack")

	// Refusals do not echo the values either.
	refused := []struct {
		name string
		body map[string]any
	}{
		{"SlackWithSecret", map[string]any{"name": "x", "kind": "slack", "url": testSlackURL, "secret": testSecret}},
		{"SlackWithHeaders", map[string]any{"name": "x", "kind": "slack", "url": testSlackURL, "headers": map[string]string{"A": testHeaderValue}}},
		{"SlackBadName", map[string]any{"name": "Bad Name", "kind": "slack", "url": testSlackURL}},
		{"SlackBadScheme", map[string]any{"name": "x", "kind": "slack", "url": "ftp://127.0.0.1" + testSlackPath}},
		{"SlackUserInfo", map[string]any{"name": "x", "kind": "slack", "url": "http://u:slackpathtoken42@127.0.0.1/x"}},
		{"SecretTooLong", map[string]any{"name": "x", "kind": "webhook", "url": testWebhookURL, "secret": strings.Repeat(testSecret, 10)}},
		{"SecretWrongType", map[string]any{"name": "x", "kind": "webhook", "url": testWebhookURL, "secret": []string{testSecret}}},
		{"HeaderValueWithNewline", map[string]any{"name": "x", "kind": "webhook", "url": testWebhookURL, "headers": map[string]string{"A": testHeaderValue + "\r\nB: c"}}},
		{"HeaderValueTooLong", map[string]any{"name": "x", "kind": "webhook", "url": testWebhookURL, "headers": map[string]string{"A": strings.Repeat(testHeaderValue, 40)}}},
		{"UnknownField", map[string]any{"name": "x", "kind": "slack", "url": testSlackURL, "token": testSecret}},
	}
	for _, tt := range refused {
		res := e.request(http.MethodPost, "/channel", tt.body)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", tt.name, res.Body)
		check(res, "create "+tt.name)
		res = e.request(http.MethodPut, "/channel/"+slack.ID.String(), tt.body, "If-Match", `"2"`)
		require.Contains(t, []int{http.StatusUnprocessableEntity}, res.Status, "%s: %s", tt.name, res.Body)
		check(res, "update "+tt.name)
	}
	// A body that is not JSON is echoed by Huma's 400 unless hidden.
	res = e.request(http.MethodPost, "/channel", `{"name":"x","kind":"slack","url":"`+testSlackURL+`"`)
	require.Equal(t, http.StatusBadRequest, res.Status, "body: %s", res.Body)
	check(res, "malformed body")
	assert.Equal(t, 2, e.channelCount())

	// Nor does any log line.
	logs := e.logs.String()
	for _, secret := range []string{testSecret, testHeaderValue, testSlackPath, "slackpathtoken42"} {
		assert.NotContains(t, logs, secret, "a log line holds a write-only value")
	}
}

// TestChannelUpdateKeepsOrClearsWriteOnlyFields checks the merge rules of
// update-channel: omitted keeps, "" and {} clear, a slack URL omitted is
// kept, and the kind never changes.
func TestChannelUpdateKeepsOrClearsWriteOnlyFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hook := e.createChannel(webhookBody("hook"))
	path := "/channel/" + hook.ID.String()

	// Omitted: kept.
	res := e.request(http.MethodPut, path, map[string]any{"name": "hook", "kind": "webhook", "url": testWebhookURL}, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	st := e.storedChannel(hook.ID)
	assert.Equal(t, testSecret, st.Secret)
	assert.Equal(t, map[string]string{"Authorization": testHeaderValue}, st.Headers)

	// Given: replaced.
	res = e.request(http.MethodPut, path, map[string]any{
		"name": "hook", "kind": "webhook", "url": testWebhookURL,
		"secret": "another-secret-0123456789", "headers": map[string]string{"X-Team": "payments", "Authorization": "Bearer b"},
	}, "If-Match", `"2"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var up Channel
	res.decode(t, &up)
	assert.Equal(t, []string{"Authorization", "X-Team"}, up.HeaderNames, "sorted")
	st = e.storedChannel(hook.ID)
	assert.Equal(t, "another-secret-0123456789", st.Secret)
	assert.Equal(t, map[string]string{"X-Team": "payments", "Authorization": "Bearer b"}, st.Headers)

	// "" and {}: cleared.
	res = e.request(http.MethodPut, path, map[string]any{
		"name": "hook", "kind": "webhook", "url": testWebhookURL, "secret": "", "headers": map[string]string{},
	}, "If-Match", `"3"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	res.decode(t, &up)
	assert.False(t, up.HasSecret)
	assert.Empty(t, up.HeaderNames)
	st = e.storedChannel(hook.ID)
	assert.Empty(t, st.Secret)
	assert.Empty(t, st.Headers)

	// A webhook's URL is required.
	res = e.request(http.MethodPut, path, map[string]any{"name": "hook", "kind": "webhook"}, "If-Match", `"4"`)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	assert.Contains(t, res.problem(t).locations(), "body.url")

	// The kind cannot change.
	res = e.request(http.MethodPut, path, map[string]any{"name": "hook", "kind": "slack", "url": testSlackURL}, "If-Match", `"4"`)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	pd := res.problem(t)
	require.Contains(t, pd.locations(), "body.kind")
	assert.Contains(t, string(res.Body), "cannot change")
	st = e.storedChannel(hook.ID)
	assert.Equal(t, storage.ChannelWebhook, st.Kind)
	assert.Equal(t, int64(4), st.Revision, "nothing written")

	// A slack channel keeps its URL when it is omitted, and takes a new one.
	slack := e.createChannel(slackBody("slack"))
	spath := "/channel/" + slack.ID.String()
	res = e.request(http.MethodPut, spath, map[string]any{"name": "slack-renamed", "kind": "slack"}, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	st = e.storedChannel(slack.ID)
	assert.Equal(t, testSlackURL, st.URL)
	assert.Equal(t, "slack-renamed", st.Name)
	res = e.request(http.MethodPut, spath, map[string]any{"name": "slack", "kind": "slack", "url": "https://127.0.0.1:8443/services/new"}, "If-Match", `"2"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var su Channel
	res.decode(t, &su)
	assert.Equal(t, "https://127.0.0.1:8443/…", su.URL)
	assert.Equal(t, "https://127.0.0.1:8443/services/new", e.storedChannel(slack.ID).URL)
	// A slack channel takes "" as its secret (there is none) and {} as
	// its headers, but no value.
	res = e.request(http.MethodPut, spath, map[string]any{"name": "slack", "kind": "slack", "secret": "", "headers": map[string]string{}}, "If-Match", `"3"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	res = e.request(http.MethodPut, spath, map[string]any{"name": "slack", "kind": "webhook", "url": testWebhookURL}, "If-Match", `"4"`)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	assert.Equal(t, storage.ChannelSlack, e.storedChannel(slack.ID).Kind)
}

func TestCreateChannelRejectsBadFieldsAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	webhook := func(changes map[string]any) map[string]any {
		b := webhookBody("checked")
		for k, v := range changes {
			if v == nil {
				delete(b, k)
				continue
			}
			b[k] = v
		}
		return b
	}
	manyHeaders := map[string]string{}
	for i := range 21 {
		manyHeaders[fmt.Sprintf("X-H%d", i)] = "v"
	}
	tests := []struct {
		name     string
		body     map[string]any
		location string
		message  string
	}{
		{"EmptyName", webhook(map[string]any{"name": ""}), "body.name", ""},
		{"NameTooLong", webhook(map[string]any{"name": strings.Repeat("a", 101)}), "body.name", ""},
		{"NameUpperCase", webhook(map[string]any{"name": "Ops"}), "body.name", ""},
		{"NameWithSpace", webhook(map[string]any{"name": "ops hook"}), "body.name", ""},
		{"MissingName", webhook(map[string]any{"name": nil}), "body", "name"},
		{"BadKind", webhook(map[string]any{"kind": "email"}), "body.kind", ""},
		{"MissingURL", webhook(map[string]any{"url": nil}), "body", "url"},
		{"EmptyURL", webhook(map[string]any{"url": ""}), "body.url", ""},
		{"URLTooLong", webhook(map[string]any{"url": "http://127.0.0.1/" + strings.Repeat("a", 2040)}), "body.url", ""},
		{"URLTooManyBytes", webhook(map[string]any{"url": "http://127.0.0.1/" + strings.Repeat("é", 1020)}), "body.url", "at most 2048 bytes"},
		{"RelativeURL", webhook(map[string]any{"url": "/hook"}), "body.url", "must be an absolute URL"},
		{"FTPURL", webhook(map[string]any{"url": "ftp://127.0.0.1/hook"}), "body.url", "must use http or https"},
		{"URLWithoutHost", webhook(map[string]any{"url": "http:///hook"}), "body.url", "must name a host"},
		{"URLWithUserInfo", webhook(map[string]any{"url": "http://user:pw@127.0.0.1/hook"}), "body.url", "user name or password"},
		{"URLWithBadPort", webhook(map[string]any{"url": "http://127.0.0.1:70000/hook"}), "body.url", "invalid port"},
		{"SlackWithSecret", map[string]any{"name": "s", "kind": "slack", "url": testSlackURL, "secret": testSecret}, "body.secret", "a slack channel takes no secret"},
		{"SlackWithHeaders", map[string]any{"name": "s", "kind": "slack", "url": testSlackURL, "headers": map[string]string{"A": "b"}}, "body.headers", "a slack channel takes no headers"},
		{"TooManyHeaders", webhook(map[string]any{"headers": manyHeaders}), "body.headers", ""},
		{"HeaderNameNotAToken", webhook(map[string]any{"headers": map[string]string{"X Team": "a"}}), "body.headers.X Team", "HTTP tokens"},
		{"HeaderNameWithColon", webhook(map[string]any{"headers": map[string]string{"X-Team:": "a"}}), "body.headers.X-Team:", "HTTP tokens"},
		{"HeaderNameTooLong", webhook(map[string]any{"headers": map[string]string{strings.Repeat("x", 101): "a"}}), "body.headers." + strings.Repeat("x", 101), "1 to 100 bytes"},
		{"ContentType", webhook(map[string]any{"headers": map[string]string{"content-type": "text/plain"}}), "body.headers.content-type", "set by astro-runner"},
		{"ContentLength", webhook(map[string]any{"headers": map[string]string{"Content-Length": "1"}}), "body.headers.Content-Length", "set by astro-runner"},
		{"Host", webhook(map[string]any{"headers": map[string]string{"HOST": "example.com"}}), "body.headers.HOST", "set by astro-runner"},
		{"TransferEncoding", webhook(map[string]any{"headers": map[string]string{"Transfer-Encoding": "chunked"}}), "body.headers.Transfer-Encoding", "set by astro-runner"},
		{"Connection", webhook(map[string]any{"headers": map[string]string{"Connection": "close"}}), "body.headers.Connection", "set by astro-runner"},
		{"UserAgent", webhook(map[string]any{"headers": map[string]string{"User-Agent": "me"}}), "body.headers.User-Agent", "set by astro-runner"},
		{"XAstro", webhook(map[string]any{"headers": map[string]string{"x-astro-signature": "t=1,v1=00"}}), "body.headers.x-astro-signature", "X-Astro-* are reserved"},
		{"HeaderValueCR", webhook(map[string]any{"headers": map[string]string{"A": "a\rb"}}), "body.headers.A", "control characters"},
		{"HeaderValueLF", webhook(map[string]any{"headers": map[string]string{"A": "a\nb"}}), "body.headers.A", "control characters"},
		{"HeaderValueNUL", webhook(map[string]any{"headers": map[string]string{"A": "a\x00b"}}), "body.headers.A", "control characters"},
		{"HeaderValueTooLong", webhook(map[string]any{"headers": map[string]string{"A": strings.Repeat("a", 1025)}}), "body.headers.A", ""},
		{"HeaderValueTooManyBytes", webhook(map[string]any{"headers": map[string]string{"A": strings.Repeat("é", 600)}}), "body.headers.A", "at most 1024 bytes"},
		{"HeaderNamesDifferOnlyByCase", webhook(map[string]any{"headers": map[string]string{"X-Team": "a", "x-team": "b"}}), "body.headers.x-team", "given twice"},
		{"SecretTooShort", webhook(map[string]any{"secret": "short-secret-15"}), "body.secret", "16 to 256 bytes"},
		{"SecretTooLong", webhook(map[string]any{"secret": strings.Repeat("s", 257)}), "body.secret", ""},
		{"SecretTooManyBytes", webhook(map[string]any{"secret": strings.Repeat("é", 129)}), "body.secret", "16 to 256 bytes"},
		// The stores cannot hold NUL (Postgres text refuses it): without
		// this check the answer was a bare 400 "invalid input".
		{"SecretWithNUL", webhook(map[string]any{"secret": "0123456789abcdef\x00"}), "body.secret", "NUL"},
		// Headers that the deliverer never sends (it manages them, or
		// HTTP does): saving them would promise a header that never goes.
		{"ContentEncoding", webhook(map[string]any{"headers": map[string]string{"Content-Encoding": "gzip"}}), "body.headers.Content-Encoding", "set by astro-runner"},
		{"TE", webhook(map[string]any{"headers": map[string]string{"TE": "trailers"}}), "body.headers.TE", "set by astro-runner"},
		{"Trailer", webhook(map[string]any{"headers": map[string]string{"Trailer": "X-A"}}), "body.headers.Trailer", "set by astro-runner"},
		{"Upgrade", webhook(map[string]any{"headers": map[string]string{"upgrade": "h2c"}}), "body.headers.upgrade", "set by astro-runner"},
		{"KeepAlive", webhook(map[string]any{"headers": map[string]string{"Keep-Alive": "timeout=5"}}), "body.headers.Keep-Alive", "set by astro-runner"},
		{"ProxyConnection", webhook(map[string]any{"headers": map[string]string{"Proxy-Connection": "keep-alive"}}), "body.headers.Proxy-Connection", "set by astro-runner"},
		// A host that is not ASCII is dialled as net/http maps it (IDNA),
		// which the policy check cannot see: １２７.０.０.１ is 127.0.0.1.
		{"FullwidthHost", webhook(map[string]any{"url": "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:9/hook"}), "body.url", "ASCII"},
		{"EscapedNonASCIIHost", webhook(map[string]any{"url": "http://%E2%91%A0%E2%91%A5%E2%91%A8.254.169.254/latest"}), "body.url", "ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.request(http.MethodPost, "/channel", tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
			pd := res.problem(t)
			require.Contains(t, pd.locations(), tt.location, "body: %s", res.Body)
			for _, d := range pd.Errors {
				if d.Location == tt.location {
					assert.Contains(t, d.Message, tt.message)
				}
			}
		})
	}
	assert.Zero(t, e.channelCount())

	// The bounds themselves pass.
	ok := webhook(map[string]any{
		"name": strings.Repeat("a", 100), "secret": strings.Repeat("s", 16),
		"url": "http://127.0.0.1/" + strings.Repeat("a", 2048-len("http://127.0.0.1/")),
	})
	ok["headers"] = map[string]string{"A": strings.Repeat("a", 1024), "B": "tab\tinside"}
	e.createChannel(ok)
	ok = webhook(map[string]any{"name": "b", "secret": strings.Repeat("s", 256)})
	delete(ok, "headers")
	e.createChannel(ok)
}

// TestChannelURLMustPassTheNetworkPolicy checks that a URL the policy
// denies is refused when saved, naming the rule, and nothing is written.
// Every destination here is loopback or a literal decided without dialing.
func TestChannelURLMustPassTheNetworkPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withPolicy(t, "", "127.0.0.0/8, ::1/128, localhost.localdomain"))
	tests := []struct {
		name, url, message string
	}{
		{"Literal", "http://127.0.0.1:9/hook", "url blocked by the network policy: destination 127.0.0.1 is denied by 127.0.0.0/8"},
		{"IPv6Literal", "http://[::1]:9/hook", "url blocked by the network policy: destination ::1 is denied by ::1/128"},
		{"NameResolvingToADeniedAddress", "http://localhost:9/hook", "url blocked by the network policy: destination localhost ("},
		{"DeniedName", "https://localhost.localdomain/hook", "url blocked by the network policy: destination localhost.localdomain is denied by localhost.localdomain"},
		{"BuiltinDeny", "http://169.254.169.254/latest", "url blocked by the network policy: destination 169.254.169.254 is denied by 169.254.0.0/16 (link-local default)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range []string{"webhook", "slack"} {
				res := e.request(http.MethodPost, "/channel", map[string]any{"name": "blocked", "kind": kind, "url": tt.url})
				require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
				pd := res.problem(t)
				require.Equal(t, []string{"body.url"}, pd.locations(), "body: %s", res.Body)
				assert.Contains(t, pd.Errors[0].Message, tt.message)
				assert.Nil(t, pd.Errors[0].Value, "the URL is not echoed")
			}
		})
	}
	assert.Zero(t, e.channelCount())

	// An update to a denied URL is refused too, and writes nothing.
	c, err := e.raw.ChannelCreate(context.Background(), &storage.ChannelCreateParams{Name: "stored", Kind: storage.ChannelWebhook, URL: "http://127.0.0.1:9/stored"})
	require.NoError(t, err)
	res := e.request(http.MethodPut, "/channel/"+c.ID.String(), map[string]any{"name": "stored", "kind": "webhook", "url": "http://127.0.0.1:9/x"}, "If-Match", `"1"`)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	assert.Contains(t, string(res.Body), "blocked by the network policy")
	assert.Equal(t, int64(1), e.storedChannel(c.ID).Revision)
}

// TestChannelURLDefaultPolicy checks that a nil TargetPolicy is the
// default policy: loopback passes, the built-in entries do not.
func TestChannelURLDefaultPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createChannel(map[string]any{"name": "loopback", "kind": "webhook", "url": "http://127.0.0.1:9/hook"})
	e.createChannel(map[string]any{"name": "localhost", "kind": "webhook", "url": "http://localhost:9/hook"})
	res := e.request(http.MethodPost, "/channel", map[string]any{"name": "meta", "kind": "webhook", "url": "http://169.254.169.254/"})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	assert.Contains(t, string(res.Body), "blocked by the network policy: destination 169.254.169.254 is denied by 169.254.0.0/16")
	res = e.request(http.MethodPost, "/channel", map[string]any{"name": "zero", "kind": "webhook", "url": "http://0.0.0.0:9/"})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	assert.Equal(t, 2, e.channelCount())
}

func TestListChannelsFollowsLinkHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []uuid.UUID
	for i := range 5 {
		want = append(want, e.createChannel(slackBody(fmt.Sprintf("c%d", i))).ID)
	}
	var got []uuid.UUID
	path := "/channel?limit=2"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 10)
		res := e.request(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		var page ChannelList
		res.decode(t, &page)
		for _, c := range page.Channels {
			got = append(got, c.ID)
		}
		path = nextPath(res)
	}
	assert.Equal(t, want, got, "oldest first")

	res := e.request(http.MethodGet, "/channel?cursor=junk", nil)
	assert.Equal(t, http.StatusBadRequest, res.Status)
}

// nextPath returns the path of a response's Link rel="next", or "". The
// answer carries other links too (rel="describedBy"), so it picks the one
// with rel="next" rather than the first.
func nextPath(res *response) string {
	re := regexp.MustCompile(`^<([^>]+)>;\s*rel="next"$`)
	for _, v := range res.Header.Values("Link") {
		if m := re.FindStringSubmatch(v); m != nil {
			return m[1]
		}
	}
	return ""
}

func TestDeletingAChannelThatRulesUseConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.createChannel(slackBody("used"))
	other := e.createChannel(slackBody("other"))
	r1 := e.createRule(map[string]any{"channels": []uuid.UUID{c.ID}})
	r2 := e.createRule(map[string]any{"channels": []uuid.UUID{other.ID, c.ID}})

	res := e.request(http.MethodDelete, "/channel/"+c.ID.String(), nil)
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
	detail := res.problem(t).Detail
	assert.Contains(t, detail, "2 alert rule(s)")
	assert.Contains(t, detail, "GET /alert-rule?channel_id="+c.ID.String())
	e.storedChannel(c.ID) // still there

	for _, r := range []AlertRule{r1, r2} {
		res = e.request(http.MethodDelete, "/alert-rule/"+r.ID.String(), nil)
		require.Equal(t, http.StatusNoContent, res.Status, "body: %s", res.Body)
	}
	res = e.request(http.MethodDelete, "/channel/"+c.ID.String(), nil)
	assert.Equal(t, http.StatusNoContent, res.Status, "body: %s", res.Body)
}

// recordDelivery stores a delivery attempt straight in the store.
func (e *testEnv) recordDelivery(p storage.AlertDelivery) *storage.AlertDelivery {
	e.t.Helper()
	d, err := e.raw.AlertDeliveryRecord(context.Background(), &p)
	require.NoError(e.t, err)
	return d
}

func TestChannelDeliveriesListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.createChannel(webhookBody("hook"))
	other := e.createChannel(slackBody("other"))
	p := e.createPlan("alerted", nil)
	x := e.execute(p.ID)
	rule := e.createRule(map[string]any{"plan_id": p.ID, "channels": []uuid.UUID{c.ID}})

	base := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	msgA, msgB := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	var want []*storage.AlertDelivery // oldest first
	for i, outcome := range []storage.AlertDeliveryOutcome{storage.DeliveryRetrying, storage.DeliveryRetrying, storage.DeliveryDelivered} {
		status, failure := 500, "receiver answered 500"
		if outcome == storage.DeliveryDelivered {
			status, failure = 200, ""
		}
		want = append(want, e.recordDelivery(storage.AlertDelivery{
			DeliveryID: msgA, ChannelID: c.ID, RuleID: rule.ID, ExecutionID: x.ID, Event: "execution.failed",
			Attempt: i + 1, Outcome: outcome, StatusCode: status, Latency: 87 * time.Millisecond, Error: failure,
			Payload: []byte(`{"version":"1","event":"execution.failed","n":` + fmt.Sprint(i) + `}`), Response: "ok",
			CreatedAt: base.Add(time.Duration(i) * time.Second),
		}))
	}
	// A test message that got no answer, and whose payload is not JSON.
	want = append(want, e.recordDelivery(storage.AlertDelivery{
		DeliveryID: msgB, ChannelID: c.ID, Event: "test", Attempt: 1, Outcome: storage.DeliveryDiscarded,
		Error: "connection refused", Payload: []byte("not json"), CreatedAt: base.Add(time.Minute),
	}))
	e.recordDelivery(storage.AlertDelivery{
		DeliveryID: uuid.Must(uuid.NewV7()), ChannelID: other.ID, Event: "test", Attempt: 1,
		Outcome: storage.DeliveryDelivered, StatusCode: 200, Payload: []byte(`{}`), CreatedAt: base.Add(2 * time.Minute),
	})

	// Newest first, paged with Link.
	var got []Delivery
	var raws []map[string]json.RawMessage
	path := "/channel/" + c.ID.String() + "/deliveries?limit=3"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 10)
		res := e.request(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		noWriteOnlyValues(t, res, "deliveries")
		var page DeliveryList
		res.decode(t, &page)
		got = append(got, page.Deliveries...)
		var raw struct {
			Deliveries []map[string]json.RawMessage `json:"deliveries"`
		}
		res.decode(t, &raw)
		raws = append(raws, raw.Deliveries...)
		path = nextPath(res)
	}
	require.Len(t, got, len(want))
	for i, d := range got {
		w := want[len(want)-1-i]
		assert.Equal(t, w.ID, d.ID, "newest first: item %d", i)
		assert.Equal(t, w.DeliveryID, d.DeliveryID)
		assert.Equal(t, w.Attempt, d.Attempt)
		assert.Equal(t, string(w.Outcome), d.Outcome)
		assert.Equal(t, w.Event, d.Event)
		assert.Equal(t, w.Error, d.Error)
	}
	// The test message: null rule, execution and status; its payload as a
	// JSON string.
	assert.Equal(t, "null", string(raws[0]["rule_id"]))
	assert.Equal(t, "null", string(raws[0]["execution_id"]))
	assert.Equal(t, "null", string(raws[0]["status_code"]))
	assert.Equal(t, `"not json"`, string(raws[0]["payload"]))
	// The last attempt of the failed message: every field.
	assert.Equal(t, rule.ID, *got[1].RuleID)
	assert.Equal(t, x.ID, *got[1].ExecutionID)
	assert.Equal(t, 200, *got[1].StatusCode)
	assert.Equal(t, int64(87), got[1].LatencyMS)
	assert.Equal(t, "ok", got[1].Response)
	assert.JSONEq(t, `{"version":"1","event":"execution.failed","n":2}`, string(raws[1]["payload"]), "the payload is a JSON value")
	assert.True(t, got[1].CreatedAt.Equal(base.Add(2*time.Second)), "created_at %s", got[1].CreatedAt)
	assert.Equal(t, 500, *got[2].StatusCode)

	// Filtered by message.
	res := e.request(http.MethodGet, "/channel/"+c.ID.String()+"/deliveries?limit=2&delivery_id="+msgA.String(), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var page DeliveryList
	res.decode(t, &page)
	require.Len(t, page.Deliveries, 2)
	assert.Equal(t, 3, page.Deliveries[0].Attempt)
	next := nextPath(res)
	assert.Contains(t, next, "delivery_id="+msgA.String(), "the Link keeps the filter")
	res = e.request(http.MethodGet, next, nil)
	res.decode(t, &page)
	require.Len(t, page.Deliveries, 1)
	assert.Equal(t, 1, page.Deliveries[0].Attempt)
	assert.Equal(t, msgA, page.Deliveries[0].DeliveryID)

	res = e.request(http.MethodGet, "/channel/"+uuid.NewString()+"/deliveries", nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
	res = e.request(http.MethodGet, "/channel/"+c.ID.String()+"/deliveries?cursor=junk", nil)
	assert.Equal(t, http.StatusBadRequest, res.Status)
}

// fakeTester is a ChannelTester that records the channels it is given.
type fakeTester struct {
	mu       sync.Mutex
	channels []*storage.Channel
	delivery storage.AlertDelivery
	err      error
}

func (f *fakeTester) TestChannel(_ context.Context, ch *storage.Channel) (*storage.AlertDelivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.channels = append(f.channels, ch)
	if f.err != nil {
		return nil, f.err
	}
	d := f.delivery
	d.ChannelID = ch.ID
	return &d, nil
}

func (f *fakeTester) calls() []*storage.Channel {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*storage.Channel(nil), f.channels...)
}

func TestTestChannel(t *testing.T) {
	t.Parallel()
	tester := &fakeTester{delivery: storage.AlertDelivery{
		ID: uuid.Must(uuid.NewV7()), DeliveryID: uuid.Must(uuid.NewV7()), Event: "test", Attempt: 1,
		Outcome: storage.DeliveryDiscarded, StatusCode: 503, Latency: 12 * time.Millisecond,
		Error: "receiver answered 503", Payload: []byte(`{"version":"1","event":"test"}`), Response: "try later",
		CreatedAt: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	}}
	e := newEnv(t, func(d *Deps) { d.ChannelTester = tester })
	c := e.createChannel(webhookBody("hook"))

	res := e.request(http.MethodPost, "/channel/"+c.ID.String()+"/test", nil)
	require.Equal(t, http.StatusOK, res.Status, "a failed delivery is still a 200: %s", res.Body)
	noWriteOnlyValues(t, res, "test")
	var d Delivery
	res.decode(t, &d)
	assert.Equal(t, tester.delivery.ID, d.ID)
	assert.Equal(t, tester.delivery.DeliveryID, d.DeliveryID)
	assert.Equal(t, "discarded", d.Outcome)
	require.NotNil(t, d.StatusCode)
	assert.Equal(t, 503, *d.StatusCode)
	assert.Equal(t, int64(12), d.LatencyMS)
	assert.Equal(t, "receiver answered 503", d.Error)
	assert.Equal(t, "try later", d.Response)
	assert.JSONEq(t, `{"version":"1","event":"test"}`, string(d.Payload))
	assert.Nil(t, d.RuleID)
	calls := tester.calls()
	require.Len(t, calls, 1)
	assert.Equal(t, c.ID, calls[0].ID)
	assert.Equal(t, testSecret, calls[0].Secret, "the tester gets the stored channel, secret and all")
	assert.Equal(t, map[string]string{"Authorization": testHeaderValue}, calls[0].Headers)

	res = e.request(http.MethodPost, "/channel/"+uuid.NewString()+"/test", nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
	assert.Len(t, tester.calls(), 1, "an unknown channel is not tested")

	// An error (not a refused delivery) is a bare 500 that does not leak.
	tester.mu.Lock()
	tester.err = errors.New("record delivery: pq: relation alert_deliveries " + testSlackPath)
	tester.mu.Unlock()
	res = e.request(http.MethodPost, "/channel/"+c.ID.String()+"/test", nil)
	require.Equal(t, http.StatusInternalServerError, res.Status, "body: %s", res.Body)
	assert.NotContains(t, string(res.Body), "alert_deliveries")
	noWriteOnlyValues(t, res, "test error")

	// Without a tester the route answers 503.
	bare := newEnv(t)
	bc := bare.createChannel(slackBody("s"))
	res = bare.request(http.MethodPost, "/channel/"+bc.ID.String()+"/test", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.Status, "body: %s", res.Body)
	assert.Equal(t, "alert delivery is not configured", res.problem(t).Detail)
}

// TestAlertWebhookIsDescribed checks the webhook "alert" of the document
// and its 3.0 downgrade.
func TestAlertWebhookIsDescribed(t *testing.T) {
	t.Parallel()
	oapi := specAPI()
	hook := oapi.Webhooks["alert"]
	require.NotNil(t, hook)
	require.NotNil(t, hook.Post)
	assert.Equal(t, "#/components/schemas/AlertEvent", hook.Post.RequestBody.Content["application/json"].Schema.Ref)
	for _, want := range []string{"X-Astro-Signature", "t=<unix>,v1=<hex>", "HMAC-SHA256", "X-Astro-Event", "X-Astro-Delivery",
		"deduplicate", "429", "5xx", "Retry-After", "2xx quickly"} {
		assert.Contains(t, hook.Post.Description, want)
	}
	var names []string
	for _, p := range hook.Post.Parameters {
		names = append(names, p.Name)
		assert.Equal(t, "header", p.In)
	}
	assert.Equal(t, []string{"X-Astro-Event", "X-Astro-Delivery", "X-Astro-Signature"}, names)

	schemas := oapi.Components.Schemas.Map()
	event := schemas["AlertEvent"]
	require.NotNil(t, event)
	assert.Contains(t, event.Properties["event"].Extensions["x-enum-varnames"], "AlertEventEventExecutionFailed")
	rule := event.Properties["rule"]
	require.Len(t, rule.AnyOf, 2, "rule is nullable")
	assert.Equal(t, "#/components/schemas/AlertEventRule", rule.AnyOf[0].Ref)
	require.Len(t, schemas["AlertFailedStep"].Properties["assertion"].AnyOf, 2, "assertion is nullable")

	e := newEnv(t)
	res := e.request(http.MethodGet, "/openapi-3.0.json", nil)
	require.Equal(t, http.StatusOK, res.Status)
	var doc map[string]json.RawMessage
	res.decode(t, &doc)
	assert.NotContains(t, doc, "webhooks", "3.0 has no webhooks")
	assert.Contains(t, doc, "x-webhooks")
	res = e.request(http.MethodGet, "/openapi.json", nil)
	res.decode(t, &doc)
	assert.Contains(t, doc, "webhooks")
}
