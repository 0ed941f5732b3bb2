package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// ChannelTester sends a sample message through a channel now. The real one
// is *alert.Deliverer.
type ChannelTester interface {
	// TestChannel sends a sample message to ch, records the attempt in the
	// channel's deliveries and returns it. A receiver that refuses the
	// message is a delivery with outcome discarded, not an error; an error
	// means that the attempt could not be made or recorded.
	TestChannel(ctx context.Context, ch *storage.Channel) (*storage.AlertDelivery, error)
}

// maxChannelBodyBytes caps the request body of create-channel and
// update-channel: 20 headers of 1 KiB and a 2 KiB URL fit many times.
const maxChannelBodyBytes = 64 << 10

// Limits of a channel's fields.
const (
	maxChannelHeaders     = 20
	maxHeaderNameBytes    = 100
	maxHeaderValueBytes   = 1024
	minChannelSecretBytes = 16
	maxChannelSecretBytes = 256
)

// ChannelHeaders are the extra request headers of a webhook channel, by
// name.
type ChannelHeaders map[string]string

// Schema describes ChannelHeaders. Huma cannot check map keys, so the
// bodies that hold headers check them in Resolve.
func (ChannelHeaders) Schema(huma.Registry) *huma.Schema {
	maxProps := maxChannelHeaders
	maxValue := maxHeaderValueBytes
	return &huma.Schema{
		Type: huma.TypeObject,
		Description: "Extra request headers sent with every delivery of a webhook channel, by name: at most 20; names are " +
			"HTTP tokens of at most 100 bytes, unique regardless of case; values are at most 1 KiB, without control " +
			"characters (CR, LF, NUL...). Content-Type, Content-Length, Content-Encoding, Host, Connection, Keep-Alive, " +
			"Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, User-Agent and X-Astro-* are set by astro-runner " +
			"or by HTTP itself, and refused. Values are write-only: answers list the names only.",
		MaxProperties:        &maxProps,
		AdditionalProperties: &huma.Schema{Type: huma.TypeString, MaxLength: &maxValue},
		Examples:             []any{map[string]any{"Authorization": "Bearer 0123456789abcdef"}},
	}
}

// ChannelCreateBody is a new channel, sent to create-channel.
type ChannelCreateBody struct {
	Name    string         `json:"name" pattern:"^[a-z0-9][a-z0-9_-]{0,99}$" maxLength:"100" doc:"Name of the channel, unique: 1 to 100 lowercase letters, digits, '-' and '_', starting with a letter or digit." example:"ops-webhook"`
	Kind    string         `json:"kind" enum:"webhook,slack" doc:"How the channel delivers. webhook: a signed POST of the alert document (see the webhook \"alert\" of this document). slack: a Block Kit message to a Slack incoming webhook." example:"webhook"`
	URL     string         `json:"url" minLength:"1" maxLength:"2048" doc:"Where deliveries go: an absolute http or https URL with an ASCII host (an internationalized name in its xn-- form) and without user name or password, at most 2048 bytes. It must pass the server's network policy (ASTRO_TARGET_ALLOW, ASTRO_TARGET_DENY), checked now and again on every delivery. For a slack channel it is the incoming-webhook URL, a credential: it is write-only, and answers show only its scheme and host." example:"https://hooks.example.com/astro"`
	Headers ChannelHeaders `json:"headers,omitempty" doc:"Extra request headers of a webhook channel; a slack channel takes none." example:"{\"Authorization\":\"Bearer 0123456789abcdef\"}"`
	Secret  string         `json:"secret,omitempty" maxLength:"256" doc:"Secret that signs the deliveries of a webhook channel (the X-Astro-Signature header): 16 to 256 bytes, without NUL characters; omitted or empty, deliveries are not signed. A slack channel takes none. Write-only: answers say only whether one is set." example:"whsec_4f1c2d3e4f5a6b7c8d9e"`
}

// Resolve checks what the schema cannot: the URL's form, the headers, the
// secret's length in bytes, and that a slack channel has no headers and
// no secret.
func (b *ChannelCreateBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	errs := checkChannelURL(prefix, &b.URL)
	errs = append(errs, checkChannelExtras(prefix, b.Kind, b.Headers, &b.Secret)...)
	return errs
}

// ChannelBody is the replacement of a channel, sent to update-channel.
// Its write-only fields may be left out to keep them.
type ChannelBody struct {
	Name    string          `json:"name" pattern:"^[a-z0-9][a-z0-9_-]{0,99}$" maxLength:"100" doc:"Name of the channel, unique: 1 to 100 lowercase letters, digits, '-' and '_', starting with a letter or digit." example:"ops-webhook"`
	Kind    string          `json:"kind" enum:"webhook,slack" doc:"The channel's kind, which cannot change (422)." example:"webhook"`
	URL     *string         `json:"url,omitempty" minLength:"1" maxLength:"2048" doc:"Where deliveries go, as in create-channel. Required for a webhook channel; for a slack channel, omitted keeps the stored URL." example:"https://hooks.example.com/astro"`
	Headers *ChannelHeaders `json:"headers,omitempty" doc:"Extra request headers of a webhook channel. Omitted keeps the stored headers, whose values are never shown; {} removes them all." example:"{\"Authorization\":\"Bearer 0123456789abcdef\"}"`
	Secret  *string         `json:"secret,omitempty" maxLength:"256" doc:"Signing secret of a webhook channel, 16 to 256 bytes without NUL characters. Omitted keeps the stored secret; \"\" removes it." example:"whsec_4f1c2d3e4f5a6b7c8d9e"`
}

// Resolve checks what the schema cannot, as ChannelCreateBody does, and
// that a webhook channel names its URL.
func (b *ChannelBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	var errs []error
	if b.URL != nil {
		errs = checkChannelURL(prefix, b.URL)
	} else if b.Kind == string(storage.ChannelWebhook) {
		errs = append(errs, &huma.ErrorDetail{Location: prefix.With("url"), Message: "url is required for a webhook channel"})
	}
	var headers ChannelHeaders
	if b.Headers != nil {
		headers = *b.Headers
	}
	return append(errs, checkChannelExtras(prefix, b.Kind, headers, b.Secret)...)
}

// checkChannelURL returns an error detail if the URL's form is wrong (see
// alert.ParseURL). The detail never echoes the URL.
func checkChannelURL(prefix *huma.PathBuffer, raw *string) []error {
	if raw == nil || *raw == "" || len(*raw) > alert.MaxURLBytes && utf8.RuneCountInString(*raw) > alert.MaxURLBytes {
		return nil // The schema reports these.
	}
	if _, err := alert.ParseURL(*raw); err != nil {
		return []error{&huma.ErrorDetail{Location: prefix.With("url"), Message: "url " + err.Error()}}
	}
	return nil
}

// checkChannelExtras returns an error detail for each header name or value
// refused, a secret of the wrong length, and headers or a secret given to
// a slack channel. secret may be nil (omitted). No detail echoes a value.
func checkChannelExtras(prefix *huma.PathBuffer, kind string, headers ChannelHeaders, secret *string) []error {
	var errs []error
	if kind == string(storage.ChannelSlack) {
		if len(headers) > 0 {
			errs = append(errs, &huma.ErrorDetail{Location: prefix.With("headers"), Message: "a slack channel takes no headers"})
		}
		if secret != nil && *secret != "" {
			errs = append(errs, &huma.ErrorDetail{Location: prefix.With("secret"), Message: "a slack channel takes no secret: Slack does not check signatures"})
		}
		return errs
	}
	if secret != nil && *secret != "" {
		n := len(*secret)
		// A secret over 256 characters is reported by the schema.
		if strings.ContainsRune(*secret, 0) {
			// Neither store can hold NUL (a Postgres text refuses it).
			errs = append(errs, &huma.ErrorDetail{Location: prefix.With("secret"), Message: "secret " + msgNUL})
		} else if n < minChannelSecretBytes || n > maxChannelSecretBytes && utf8.RuneCountInString(*secret) <= maxChannelSecretBytes {
			errs = append(errs, &huma.ErrorDetail{Location: prefix.With("secret"),
				Message: fmt.Sprintf("secret must be %d to %d bytes long", minChannelSecretBytes, maxChannelSecretBytes)})
		}
	}
	seen := map[string]string{}
	// Not prefix.With("headers." + name): its Pop removes only the part
	// after the last dot, and header names may hold dots.
	headersLoc := prefix.With("headers")
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		loc := headersLoc + "." + name
		if msg := checkHeaderName(name); msg != "" {
			errs = append(errs, &huma.ErrorDetail{Location: loc, Message: msg})
			continue
		}
		canon := http.CanonicalHeaderKey(name)
		if other, dup := seen[canon]; dup {
			errs = append(errs, &huma.ErrorDetail{Location: loc, Message: fmt.Sprintf("header %s is given twice (also as %s): names are case-insensitive", name, other)})
			continue
		}
		seen[canon] = name
		if msg := checkHeaderValue(headers[name]); msg != "" {
			errs = append(errs, &huma.ErrorDetail{Location: loc, Message: msg})
		}
	}
	return errs
}

// checkHeaderName says what is wrong with a header name, or "".
func checkHeaderName(name string) string {
	if name == "" || len(name) > maxHeaderNameBytes {
		return fmt.Sprintf("header names are 1 to %d bytes long", maxHeaderNameBytes)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return "header names are HTTP tokens: letters, digits and !#$%&'*+-.^_`|~"
		}
	}
	// The deliverer never sends these: refuse them rather than store a
	// header that would silently never go.
	if alert.ReservedHeader(name) {
		return "header " + http.CanonicalHeaderKey(name) + " is set by astro-runner and cannot be given (" +
			strings.Join(alert.ReservedHeaders, ", ") + " and X-Astro-* are reserved)"
	}
	return ""
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110,
// 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// checkHeaderValue says what is wrong with a header value, or "". A value
// must fit in a request as is: no control character but tab.
func checkHeaderValue(v string) string {
	// A value over 1024 characters is reported by the schema.
	if len(v) > maxHeaderValueBytes && utf8.RuneCountInString(v) <= maxHeaderValueBytes {
		return fmt.Sprintf("header values are at most %d bytes long", maxHeaderValueBytes)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "header values may not hold CR, LF, NUL or other control characters"
		}
	}
	return ""
}

// Channel is a stored channel. The values of its write-only fields (the
// secret, header values, the URL of a slack channel) are never shown.
type Channel struct {
	ID          uuid.UUID `json:"id" format:"uuid" doc:"Identity of the channel." example:"0190c1f2-5f60-7172-9c80-9e0f1a2b3c4d"`
	Name        string    `json:"name" doc:"Name of the channel." example:"ops-webhook"`
	Kind        string    `json:"kind" enum:"webhook,slack" doc:"How the channel delivers: webhook or slack." example:"webhook"`
	URL         string    `json:"url" doc:"Where deliveries go. A webhook's URL in full; for a slack channel, only its scheme and host followed by /… (the URL is a credential)." example:"https://hooks.example.com/astro"`
	HeaderNames []string  `json:"header_names" nullable:"false" doc:"Names of the extra request headers, sorted; their values are write-only." example:"[\"Authorization\"]"`
	HasSecret   bool      `json:"has_secret" doc:"Whether deliveries are signed with a secret (X-Astro-Signature); the secret is write-only." example:"true"`
	Revision    int64     `json:"revision" doc:"Revision of the channel: 1 when created, bumped by every update. The ETag header carries it." example:"1"`
	CreatedAt   time.Time `json:"created_at" doc:"When the channel was created." example:"2026-01-02T15:04:05Z"`
	UpdatedAt   time.Time `json:"updated_at" doc:"When the channel was last changed." example:"2026-01-02T15:04:05Z"`
}

// ChannelList is one page of channels.
type ChannelList struct {
	Channels   []Channel `json:"channels" nullable:"false" doc:"The channels of this page, oldest first." example:"[]"`
	NextCursor string    `json:"next_cursor" doc:"Cursor of the next page, to pass as ?cursor=. Empty on the last page." example:"eyJsIjoiY2hhbm5lbHMiLCJpIjoiMDE5MGMxZjItNWY2MC03MTcyLTljODAtOWUwZjFhMmIzYzRkIn0"`
}

// Delivery is one attempt to deliver one message to a channel.
type Delivery struct {
	ID          uuid.UUID       `json:"id" format:"uuid" doc:"Identity of the attempt." example:"0190c1f3-6071-7283-8d90-af1a2b3c4d5e"`
	DeliveryID  uuid.UUID       `json:"delivery_id" format:"uuid" doc:"Identity of the message: every attempt of one message has the same one, sent as X-Astro-Delivery." example:"0190c1f0-3d4e-7f50-9a60-7c8d9e0f1a2b"`
	RuleID      *uuid.UUID      `json:"rule_id" format:"uuid" nullable:"true" doc:"The rule that sent the message, or null for a test message." example:"0190c1f1-4e5f-7061-8b70-8d9e0f1a2b3c"`
	ExecutionID *uuid.UUID      `json:"execution_id" format:"uuid" nullable:"true" doc:"The execution the message is about, or null for a test message." example:"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	Event       string          `json:"event" enum:"execution.failed,execution.recovered,test" doc:"The message's event: execution.failed, execution.recovered, or test for a message sent by test-channel." example:"execution.failed"`
	Attempt     int             `json:"attempt" doc:"Number of the attempt, from 1." example:"1"`
	Outcome     string          `json:"outcome" enum:"delivered,retrying,discarded" doc:"What became of the attempt. delivered: the receiver answered 2xx. retrying: it failed (a network error, 5xx or 429) and another attempt follows. discarded: it failed and no other follows (another answer, or attempts ran out)." example:"delivered"`
	StatusCode  *int            `json:"status_code" nullable:"true" doc:"The receiver's HTTP status, or null if no answer came." example:"200"`
	LatencyMS   int64           `json:"latency_ms" doc:"How long the attempt took, in milliseconds." example:"87"`
	Error       string          `json:"error" doc:"Why the attempt failed, or empty." example:""`
	Payload     json.RawMessage `json:"payload" doc:"The request body sent, as JSON: the alert document for a webhook channel, the Block Kit message for a slack channel." example:"{\"version\":\"1\",\"event\":\"execution.failed\"}"`
	Response    string          `json:"response" doc:"The start of the receiver's answer, or empty." example:"ok"`
	CreatedAt   time.Time       `json:"created_at" doc:"When the attempt was made." example:"2026-01-02T15:04:07Z"`
}

// DeliveryList is one page of a channel's delivery attempts.
type DeliveryList struct {
	Deliveries []Delivery `json:"deliveries" nullable:"false" doc:"The attempts of this page, newest first." example:"[]"`
	NextCursor string     `json:"next_cursor" doc:"Cursor of the next page, to pass as ?cursor=. Empty on the last page." example:"eyJsIjoiZGVsaXZlcmllcyIsImkiOiIwMTkwYzFmMy02MDcxLTcyODMtOGQ5MC1hZjFhMmIzYzRkNWUifQ"`
}

type createChannelInput struct {
	Body ChannelCreateBody
}

type createChannelOutput struct {
	Location string `header:"Location" doc:"Path of the new channel." example:"/channel/0190c1f2-5f60-7172-9c80-9e0f1a2b3c4d"`
	ETag     string `header:"ETag" doc:"Revision of the channel as an entity tag. Send it in If-Match to update the channel." example:"\"1\""`
	Body     Channel
}

type channelIDInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"Identity of the channel." example:"0190c1f2-5f60-7172-9c80-9e0f1a2b3c4d"`
}

type channelOutput struct {
	ETag string `header:"ETag" doc:"Revision of the channel as an entity tag. Send it in If-Match to update the channel." example:"\"2\""`
	Body Channel
}

type listChannelsInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Largest number of channels to return." example:"50"`
	Cursor string `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page. Empty for the first page." example:"eyJsIjoiY2hhbm5lbHMiLCJpIjoiMDE5MGMxZjItNWY2MC03MTcyLTljODAtOWUwZjFhMmIzYzRkIn0"`
}

type listChannelsOutput struct {
	Link []string `header:"Link" doc:"Link to the next page, with rel=\"next\", when there is one." example:"</channel?cursor=eyJsIjoiY2hhbm5lbHMiLCJpIjoiMDE5MGMxZjItNWY2MC03MTcyLTljODAtOWUwZjFhMmIzYzRkIn0&limit=50>; rel=\"next\""`
	Body ChannelList
}

type updateChannelInput struct {
	ID      uuid.UUID `path:"id" format:"uuid" doc:"Identity of the channel." example:"0190c1f2-5f60-7172-9c80-9e0f1a2b3c4d"`
	IfMatch string    `header:"If-Match" doc:"The channel's current ETag, from a previous read. Required: the update fails with 412 if the channel changed since." example:"\"1\""`
	Body    ChannelBody
}

type testChannelOutput struct {
	Body Delivery
}

type listDeliveriesInput struct {
	ID         uuid.UUID `path:"id" format:"uuid" doc:"Identity of the channel." example:"0190c1f2-5f60-7172-9c80-9e0f1a2b3c4d"`
	DeliveryID uuid.UUID `query:"delivery_id" format:"uuid" doc:"Keep the attempts of one message." example:"0190c1f0-3d4e-7f50-9a60-7c8d9e0f1a2b"`
	Limit      int       `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Largest number of attempts to return." example:"50"`
	Cursor     string    `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page. Empty for the first page." example:"eyJsIjoiZGVsaXZlcmllcyIsImkiOiIwMTkwYzFmMy02MDcxLTcyODMtOGQ5MC1hZjFhMmIzYzRkNWUifQ"`
}

type listDeliveriesOutput struct {
	Link []string `header:"Link" doc:"Link to the next page, with rel=\"next\", when there is one." example:"</channel/0190c1f2-5f60-7172-9c80-9e0f1a2b3c4d/deliveries?cursor=eyJsIjoiZGVsaXZlcmllcyIsImkiOiIwMTkwYzFmMy02MDcxLTcyODMtOGQ5MC1hZjFhMmIzYzRkNWUifQ&limit=50>; rel=\"next\""`
	Body DeliveryList
}

// registerChannels adds the channel operations.
func (s *server) registerChannels(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-channel",
		Method:      http.MethodPost,
		Path:        "/channel",
		Summary:     "Create a channel",
		Description: "Stores a new channel at revision 1: where alerts go. A webhook channel receives the signed alert " +
			"document (see the webhook \"alert\"); a slack channel receives a Block Kit message through a Slack incoming " +
			"webhook. The URL must be an absolute http or https URL that the server's network policy (ASTRO_TARGET_ALLOW, " +
			"ASTRO_TARGET_DENY) allows: an address or a host name it denies, or a name that resolves to a denied address, " +
			"is refused now (422, \"blocked by the network policy\"); a name that does not resolve yet is accepted, and " +
			"the policy is applied again on every delivery. The secret, the header values and a slack channel's URL are " +
			"write-only: no answer ever contains them. Fields that fail their checks give 422 naming them, and nothing " +
			"is stored. The body may be at most 64 KiB (413).",
		Tags:          []string{tagAlerts},
		Security:      secured,
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  maxChannelBodyBytes,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict,
			http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable},
	}, s.createChannel)

	huma.Register(api, huma.Operation{
		OperationID: "list-channels",
		Method:      http.MethodGet,
		Path:        "/channel",
		Summary:     "List channels",
		Description: "Returns one page of channels, oldest first, without the values of their write-only fields. " +
			"Follow next_cursor, or the Link header with rel=\"next\", for the next page. A malformed cursor gives 400.",
		Tags:     []string{tagAlerts},
		Security: secured,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.listChannels)

	huma.Register(api, huma.Operation{
		OperationID: "get-channel",
		Method:      http.MethodGet,
		Path:        "/channel/{id}",
		Summary:     "Get a channel",
		Description: "Returns one channel, with its revision in the ETag header. It shows the names of its headers and " +
			"whether it has a secret, never their values, and only the scheme and host of a slack channel's URL.",
		Tags:     []string{tagAlerts},
		Security: secured,
		Errors:   []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.getChannel)

	huma.Register(api, huma.Operation{
		OperationID: "update-channel",
		Method:      http.MethodPut,
		Path:        "/channel/{id}",
		Summary:     "Replace a channel",
		Description: "Replaces a channel and bumps its revision, except for its write-only fields when they are left out: " +
			"an omitted secret keeps the stored one (\"\" removes it), omitted headers keep the stored ones ({} removes " +
			"them), and a slack channel's omitted URL keeps the stored one. A webhook channel's URL is always required. " +
			"The kind cannot change (422). The URL is checked as in create-channel. Deliveries already queued use the " +
			"channel as it is when they are sent. If-Match must carry the ETag of the revision being replaced, quoted " +
			"(\"3\") or bare (3): without it the answer is 428, and if the channel changed since, 412. A weak tag " +
			"(W/\"3\") never matches and also gives 412. The body may be at most 64 KiB (413).",
		Tags:         []string{tagAlerts},
		Security:     secured,
		MaxBodyBytes: maxChannelBodyBytes,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict,
			http.StatusPreconditionFailed, http.StatusRequestEntityTooLarge, http.StatusPreconditionRequired,
			http.StatusServiceUnavailable},
	}, s.updateChannel)

	huma.Register(api, huma.Operation{
		OperationID: "delete-channel",
		Method:      http.MethodDelete,
		Path:        "/channel/{id}",
		Summary:     "Delete a channel",
		Description: "Deletes a channel and its delivery log. While alert rules still send to it the answer is 409, " +
			"saying how many: GET /alert-rule?channel_id={id} lists them; remove the channel from them or delete them first.",
		Tags:          []string{tagAlerts},
		Security:      secured,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, s.deleteChannel)

	huma.Register(api, huma.Operation{
		OperationID: "test-channel",
		Method:      http.MethodPost,
		Path:        "/channel/{id}/test",
		Summary:     "Send a test message",
		Description: "Sends a sample message (event test, about a made-up plan and execution) through the channel now, " +
			"once, without retries, records the attempt in the channel's deliveries and returns it: the receiver's status " +
			"code, the latency, the outcome, the error if any, the start of its answer and the payload sent. A receiver " +
			"that fails or refuses the message still gives 200: the answer describes what happened. 503 if the server " +
			"was started without alert delivery.",
		Tags:     []string{tagAlerts},
		Security: secured,
		Errors:   []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.testChannel)

	huma.Register(api, huma.Operation{
		OperationID: "list-channel-deliveries",
		Method:      http.MethodGet,
		Path:        "/channel/{id}/deliveries",
		Summary:     "List a channel's deliveries",
		Description: "Returns one page of the channel's delivery attempts, newest first, optionally those of one message " +
			"(delivery_id): when each was made, the receiver's status code, the latency, the error, the payload sent and " +
			"the start of the answer. Follow next_cursor, or the Link header with rel=\"next\", for the next page. A " +
			"malformed cursor gives 400.",
		Tags:     []string{tagAlerts},
		Security: secured,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.listDeliveries)
}

// channelFromStorage returns the API form of a stored channel, without
// the values of its write-only fields.
func channelFromStorage(c *storage.Channel) Channel {
	out := Channel{
		ID: c.ID, Name: c.Name, Kind: string(c.Kind), URL: c.URL, HeaderNames: make([]string, 0, len(c.Headers)),
		HasSecret: c.Secret != "", Revision: c.Revision, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	for name := range c.Headers {
		out.HeaderNames = append(out.HeaderNames, name)
	}
	slices.Sort(out.HeaderNames)
	if c.Kind != storage.ChannelWebhook {
		out.URL = redactURL(c.URL)
	}
	return out
}

// redactURL returns the scheme and host of a URL followed by "/…", or
// "…" if it does not parse.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return truncatedMark
	}
	return u.Scheme + "://" + u.Host + "/" + truncatedMark
}

// deliveryFromStorage returns the API form of a delivery attempt.
func deliveryFromStorage(d *storage.AlertDelivery) Delivery {
	out := Delivery{
		ID: d.ID, DeliveryID: d.DeliveryID, Event: d.Event, Attempt: d.Attempt, Outcome: string(d.Outcome),
		LatencyMS: d.Latency.Milliseconds(), Error: d.Error, Response: d.Response, CreatedAt: d.CreatedAt,
	}
	if d.RuleID != uuid.Nil {
		id := d.RuleID
		out.RuleID = &id
	}
	if d.ExecutionID != uuid.Nil {
		id := d.ExecutionID
		out.ExecutionID = &id
	}
	if d.StatusCode != 0 {
		code := d.StatusCode
		out.StatusCode = &code
	}
	switch {
	case len(d.Payload) == 0:
		out.Payload = json.RawMessage("null")
	case json.Valid(d.Payload):
		out.Payload = json.RawMessage(d.Payload)
	default:
		// Never expected: the payload sent is always JSON. Show it as text.
		b, err := json.Marshal(strings.ToValidUTF8(string(d.Payload), "\uFFFD"))
		if err != nil {
			b = []byte("null")
		}
		out.Payload = b
	}
	return out
}

// noChannel is the 404 text for an unknown channel.
func noChannel(id uuid.UUID) string { return fmt.Sprintf("no channel has id %s", id) }

// channelNameTaken is the 409 text for a channel name already used.
func channelNameTaken(name string) string {
	return fmt.Sprintf("a channel named %q already exists", name)
}

// targetPolicy returns the network policy that channel URLs must pass.
func (s *server) targetPolicy() *netguard.Policy {
	return s.deps.TargetPolicy
}

// checkURLPolicy checks a channel URL against the network policy. A URL
// that the policy refuses gives 422 at body.url, saying which rule refused
// it, without echoing the URL.
func (s *server) checkURLPolicy(ctx context.Context, raw string) error {
	err := alert.CheckURL(ctx, s.targetPolicy(), raw)
	if err == nil {
		return nil
	}
	var ue *alert.URLError
	if !errors.As(err, &ue) {
		return err
	}
	return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
		Location: "body.url", Message: "url " + ue.Error(),
	})
}

func (s *server) createChannel(ctx context.Context, in *createChannelInput) (*createChannelOutput, error) {
	if err := s.checkURLPolicy(ctx, in.Body.URL); err != nil {
		return nil, s.httpError(ctx, err)
	}
	c, err := s.deps.Store.ChannelCreate(ctx, &storage.ChannelCreateParams{
		Name: in.Body.Name, Kind: storage.ChannelKind(in.Body.Kind), URL: in.Body.URL,
		Headers: in.Body.Headers, Secret: in.Body.Secret,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{Conflict: channelNameTaken(in.Body.Name)}))
	}
	return &createChannelOutput{
		Location: "/channel/" + c.ID.String(), ETag: etag(c.Revision), Body: channelFromStorage(c),
	}, nil
}

func (s *server) getChannel(ctx context.Context, in *channelIDInput) (*channelOutput, error) {
	c, err := s.deps.Store.ChannelGetByID(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noChannel(in.ID)}))
	}
	return &channelOutput{ETag: etag(c.Revision), Body: channelFromStorage(c)}, nil
}

func (s *server) listChannels(ctx context.Context, in *listChannelsInput) (*listChannelsOutput, error) {
	page, err := s.deps.Store.ChannelList(ctx, &storage.ChannelListParams{Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, badCursor(in.Cursor)))
	}
	out := &listChannelsOutput{Body: ChannelList{
		Channels:   make([]Channel, 0, len(page.Channels)),
		NextCursor: page.NextCursor,
	}}
	for _, c := range page.Channels {
		out.Body.Channels = append(out.Body.Channels, channelFromStorage(c))
	}
	out.Link = nextLink("/channel", nil, in.Limit, page.NextCursor)
	return out, nil
}

// errKindChanged rolls back an update that would change a channel's kind.
var errKindChanged = errors.New("channel kind cannot change")

func (s *server) updateChannel(ctx context.Context, in *updateChannelInput) (*channelOutput, error) {
	rev, err := parseIfMatch(in.IfMatch, "channel")
	if err != nil {
		return nil, err
	}
	if in.Body.URL != nil {
		if err := s.checkURLPolicy(ctx, *in.Body.URL); err != nil {
			return nil, s.httpError(ctx, err)
		}
	}
	var c *storage.Channel
	var storedKind storage.ChannelKind
	err = s.deps.Store.InTx(ctx, func(tx storage.Store) error {
		cur, err := tx.ChannelGetByID(ctx, in.ID)
		if err != nil {
			return err
		}
		if cur.Revision != rev {
			return storage.ErrStaleRevision
		}
		if string(cur.Kind) != in.Body.Kind {
			storedKind = cur.Kind
			return errKindChanged
		}
		p := &storage.ChannelUpdateParams{
			ID: in.ID, ExpectedRevision: rev, Name: in.Body.Name, Kind: cur.Kind,
			URL: cur.URL, Headers: cur.Headers, Secret: cur.Secret,
		}
		if in.Body.URL != nil {
			p.URL = *in.Body.URL
		}
		if in.Body.Headers != nil {
			p.Headers = *in.Body.Headers
		}
		if in.Body.Secret != nil {
			p.Secret = *in.Body.Secret
		}
		c, err = tx.ChannelUpdate(ctx, p)
		return err
	})
	if errors.Is(err, errKindChanged) {
		return nil, huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
			Location: "body.kind",
			Message:  fmt.Sprintf("the kind of a channel cannot change: it is %s; create another channel instead", storedKind),
			Value:    in.Body.Kind,
		})
	}
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{
			NotFound: noChannel(in.ID),
			Stale:    fmt.Sprintf("channel %s is no longer at revision %d: fetch it again and retry with its new ETag", in.ID, rev),
			Conflict: channelNameTaken(in.Body.Name),
		}))
	}
	return &channelOutput{ETag: etag(c.Revision), Body: channelFromStorage(c)}, nil
}

// maxCountedRules bounds how many rules the 409 of delete-channel counts.
const maxCountedRules = 1000

func (s *server) deleteChannel(ctx context.Context, in *channelIDInput) (*struct{}, error) {
	err := s.deps.Store.ChannelDelete(ctx, in.ID)
	if errors.Is(err, storage.ErrReferenced) {
		return nil, s.channelInUse(ctx, in.ID)
	}
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noChannel(in.ID)}))
	}
	return &struct{}{}, nil
}

// channelInUse returns the 409 of the delete of a channel that rules
// still send to, counting them.
func (s *server) channelInUse(ctx context.Context, id uuid.UUID) error {
	count, more := 0, false
	p := &storage.AlertRuleListParams{ChannelID: id, Limit: storage.MaxPageLimit}
	for {
		page, err := s.deps.Store.AlertRuleList(ctx, p)
		if err != nil {
			return s.httpError(ctx, err)
		}
		count += len(page.Rules)
		if page.NextCursor == "" {
			break
		}
		if count >= maxCountedRules {
			more = true
			break
		}
		p.Cursor = page.NextCursor
	}
	rules := fmt.Sprintf("%d alert rule(s)", count)
	if more {
		rules = fmt.Sprintf("more than %d alert rules", count)
	}
	return huma.Error409Conflict(fmt.Sprintf("channel %s is still alerted by %s: remove it from their channels or "+
		"delete them first (GET /alert-rule?channel_id=%s lists them)", id, rules, id))
}

func (s *server) testChannel(ctx context.Context, in *channelIDInput) (*testChannelOutput, error) {
	if s.deps.ChannelTester == nil {
		return nil, huma.Error503ServiceUnavailable("alert delivery is not configured")
	}
	c, err := s.deps.Store.ChannelGetByID(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noChannel(in.ID)}))
	}
	d, err := s.deps.ChannelTester.TestChannel(ctx, c)
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noChannel(in.ID)}))
	}
	return &testChannelOutput{Body: deliveryFromStorage(d)}, nil
}

func (s *server) listDeliveries(ctx context.Context, in *listDeliveriesInput) (*listDeliveriesOutput, error) {
	if _, err := s.deps.Store.ChannelGetByID(ctx, in.ID); err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noChannel(in.ID)}))
	}
	page, err := s.deps.Store.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{
		ChannelID: in.ID, DeliveryID: in.DeliveryID, Limit: in.Limit, Cursor: in.Cursor,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, badCursor(in.Cursor)))
	}
	out := &listDeliveriesOutput{Body: DeliveryList{
		Deliveries: make([]Delivery, 0, len(page.Deliveries)),
		NextCursor: page.NextCursor,
	}}
	for _, d := range page.Deliveries {
		out.Body.Deliveries = append(out.Body.Deliveries, deliveryFromStorage(d))
	}
	q := url.Values{}
	if in.DeliveryID != uuid.Nil {
		q.Set("delivery_id", in.DeliveryID.String())
	}
	out.Link = nextLink("/channel/"+in.ID.String()+"/deliveries", q, in.Limit, page.NextCursor)
	return out, nil
}

// alertWebhookDescription documents what a webhook channel receives.
const alertWebhookDescription = "What astro-runner sends to a webhook channel: a POST whose JSON body is the alert " +
	"document (version 1), for the events execution.failed, execution.recovered and test (POST /channel/{id}/test). " +
	"Fields may be added to version 1; a field removed or renamed gives a new version.\n\n" +
	"Headers:\n\n" +
	"- `Content-Type: application/json`.\n" +
	"- `X-Astro-Event`: the event, as in the body.\n" +
	"- `X-Astro-Delivery`: the identity of the message (delivery_id in the body). It is the same on every attempt to " +
	"deliver the message: deduplicate on it.\n" +
	"- `X-Astro-Signature: t=<unix>,v1=<hex>`, when the channel has a secret: t is the time of the attempt in Unix " +
	"seconds and v1 the lowercase hex HMAC-SHA256, keyed with the secret, of the text `<t>.<body>` (t, a dot, then the " +
	"raw body bytes as received). To verify, compute it over the raw body before parsing it, compare in constant time, " +
	"and refuse a t too far from now (5 minutes, say) to stop replays.\n\n" +
	"Delivery: a 2xx answer delivers the message. A network error, a timeout, a 5xx or a 429 answer is retried later " +
	"with backoff (or after Retry-After, when the answer sends one and it is longer), up to a limit of attempts, then the message is " +
	"discarded; any other answer (a 4xx, a redirect) discards it at once. Redirects are not followed. Answer 2xx " +
	"quickly and do slow work afterwards. Every attempt is listed by GET /channel/{id}/deliveries."

// openEventSchemas drops "additionalProperties: false" from the alert
// document's schema and the schemas it refers to: version 1 may gain
// fields, and a receiver that validates against the published schema must
// still accept them.
func openEventSchemas(reg huma.Registry, s *huma.Schema, seen map[*huma.Schema]bool) {
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	if s.Ref != "" {
		openEventSchemas(reg, reg.SchemaFromRef(s.Ref), seen)
		return
	}
	s.AdditionalProperties = nil
	for _, p := range s.Properties {
		openEventSchemas(reg, p, seen)
	}
	openEventSchemas(reg, s.Items, seen)
	for _, sub := range s.OneOf {
		openEventSchemas(reg, sub, seen)
	}
	for _, sub := range s.AnyOf {
		openEventSchemas(reg, sub, seen)
	}
}

// registerAlertWebhook adds the alert document (alert.Event) to the
// schemas and describes, as the OpenAPI 3.1 webhook "alert", the request
// that a webhook channel receives.
func registerAlertWebhook(oapi *huma.OpenAPI) {
	event := oapi.Components.Schemas.Schema(reflect.TypeFor[alert.Event](), true, "")
	openEventSchemas(oapi.Components.Schemas, event, map[*huma.Schema]bool{})
	header := func(name, description string, example any, enum ...any) *huma.Param {
		return &huma.Param{
			Name: name, In: "header", Required: true, Description: description,
			Schema: &huma.Schema{Type: huma.TypeString, Description: description, Examples: []any{example}, Enum: enum},
		}
	}
	delivery := header("X-Astro-Delivery", "Identity of the message, the same on every attempt: deduplicate on it.",
		"0190c1f0-3d4e-7f50-9a60-7c8d9e0f1a2b")
	delivery.Schema.Format = "uuid"
	if oapi.Webhooks == nil {
		oapi.Webhooks = map[string]*huma.PathItem{}
	}
	oapi.Webhooks["alert"] = &huma.PathItem{Post: &huma.Operation{
		OperationID: "alert-webhook",
		Summary:     "Alert sent to a webhook channel",
		Description: alertWebhookDescription,
		Tags:        []string{tagAlerts},
		Security:    public,
		Parameters: []*huma.Param{
			header("X-Astro-Event", "The event of the message, as in the body.", alert.EventFailed,
				alert.EventFailed, alert.EventRecovered, alert.EventTest),
			delivery,
			{
				Name: "X-Astro-Signature", In: "header",
				Description: "Present when the channel has a secret: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" keyed with the secret>.",
				Schema: &huma.Schema{
					Type:        huma.TypeString,
					Description: "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" keyed with the secret>.",
					Examples:    []any{"t=1767366246,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"},
				},
			},
		},
		RequestBody: &huma.RequestBody{
			Description: "The alert document.",
			Required:    true,
			Content:     map[string]*huma.MediaType{"application/json": {Schema: event}},
		},
		Responses: map[string]*huma.Response{
			"2XX":     {Description: "Delivered: any 2xx answer. The body of the answer is ignored but for its start, kept in the delivery log."},
			"429":     {Description: "Retried later, after Retry-After if sent."},
			"5XX":     {Description: "Retried later, with backoff, or after Retry-After if sent."},
			"default": {Description: "Any other answer discards the message: it is not retried."},
		},
	}}
	for _, p := range oapi.Webhooks["alert"].Post.Parameters {
		nameEnumValues("AlertWebhookParams"+camel(p.Name), p.Schema)
	}
}
