package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// Bounds of a delivery attempt.
const (
	// sendTimeout bounds one attempt, from dial to the end of the answer.
	sendTimeout = 10 * time.Second
	// maxAnswerRead is the most of a receiver's answer read.
	maxAnswerRead = 64 << 10
	// maxAnswerHeader bounds the headers of a receiver's answer; an
	// answer with more fails the attempt as a network error does.
	maxAnswerHeader = 64 << 10
	// maxAnswerKept is the most of a receiver's answer stored.
	maxAnswerKept = 1024
	// maxErrorText bounds the error text of an attempt.
	maxErrorText = 1024
	// recordTimeout bounds the write of one attempt.
	recordTimeout = 10 * time.Second
)

// deliverPayload is the payload of a deliver_alert job.
type deliverPayload struct {
	DeliveryID  uuid.UUID `json:"delivery_id"`
	ChannelID   uuid.UUID `json:"channel_id"`
	RuleID      uuid.UUID `json:"rule_id"`
	ExecutionID uuid.UUID `json:"execution_id"`
	// Event is the Event JSON, sent byte for byte to a webhook.
	Event json.RawMessage `json:"event"`
}

// Deliverer delivers messages to channels: it is the handler of
// deliver_alert jobs, and sends the sample message of POST
// /channel/{id}/test.
//
// A webhook channel gets a POST of the Event JSON, exactly as it was
// stored in the job, so every attempt sends the same bytes, with the
// headers Content-Type: application/json, User-Agent, X-Astro-Event,
// X-Astro-Delivery (the delivery ID, the same on every attempt) and, when
// the channel has a secret, X-Astro-Signature (Sign, with the time of the
// attempt). The channel's extra headers are added, but never replace
// those. A Slack channel gets a POST of the message rendered as Block
// Kit.
//
// A 2xx answer delivers the message. A network error, a 5xx or a 429 is
// retried with the queue's backoff, or after the answer's Retry-After
// when that is longer, until the job's attempts run out; then the
// message is discarded. Any other answer (3xx: redirects are not
// followed; 4xx) and a destination that the network policy blocks
// discard it at once. Every attempt is recorded (AlertDeliveryRecord).
type Deliverer struct {
	// Store loads channels and records attempts.
	Store storage.Store
	// Client sends the requests. Nil means NewHTTPClient(nil).
	Client *http.Client
	// UserAgent is the User-Agent header, such as "astro-runner/1.2.0".
	UserAgent string
	// Logger receives the deliverer's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// Now tells the time of signatures. Defaults to time.Now.
	Now func() time.Time
}

// NewHTTPClient returns the client that delivers alerts: it dials only
// destinations that policy allows (checked at dial time, on the address
// connected to; nil is the default policy), ignores proxy settings, never
// follows redirects, reads at most 64 KiB of an answer's headers, and
// gives up on a request after 10 seconds.
func NewHTTPClient(policy *netguard.Policy) *http.Client {
	dialer := &net.Dialer{Timeout: sendTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            policy.DialContext(dialer),
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           64,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    sendTimeout,
			ResponseHeaderTimeout:  sendTimeout,
			MaxResponseHeaderBytes: maxAnswerHeader,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       sendTimeout,
	}
}

// defaultClient is the client of a Deliverer without one.
var defaultClient = sync.OnceValue(func() *http.Client { return NewHTTPClient(nil) })

func (d *Deliverer) client() *http.Client {
	if d.Client == nil {
		return defaultClient()
	}
	return d.Client
}

func (d *Deliverer) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

func (d *Deliverer) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}

// message is one message to deliver.
type message struct {
	deliveryID  uuid.UUID
	ruleID      uuid.UUID
	executionID uuid.UUID
	// body is the Event JSON.
	body []byte
	// event is the event of body.
	event string
}

// Handle runs one deliver_alert job; it is a worker.HandlerFunc. It makes
// one attempt to deliver the job's message, records it, and returns nil
// when it was delivered, an error to retry, or an error wrapping
// worker.ErrDiscard to give up. A channel that no longer exists discards
// the job with nothing sent or recorded.
func (d *Deliverer) Handle(ctx context.Context, job *storage.Job) error {
	var p deliverPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil || p.DeliveryID == uuid.Nil || p.ChannelID == uuid.Nil || len(p.Event) == 0 {
		return discardError("bad deliver_alert payload")
	}
	var head struct {
		Event string `json:"event"`
	}
	if err := json.Unmarshal(p.Event, &head); err != nil {
		return discardError("bad deliver_alert payload: unreadable event")
	}
	log := d.logger().With("delivery_id", p.DeliveryID, "channel_id", p.ChannelID, "attempt", job.Attempt)
	ch, err := d.Store.ChannelGetByID(ctx, p.ChannelID)
	if errors.Is(err, storage.ErrNotFound) {
		log.InfoContext(ctx, "alert channel is gone; discarding the delivery")
		return discardError("channel " + p.ChannelID.String() + " no longer exists")
	}
	if err != nil {
		log.WarnContext(ctx, "load alert channel failed", "error", err)
		return readable(storeError("load channel", err))
	}
	msg := &message{deliveryID: p.DeliveryID, ruleID: p.RuleID, executionID: p.ExecutionID, body: p.Event, event: head.Event}
	att, jobErr := d.attempt(ctx, ch, msg, job.Attempt, max(job.MaxAttempts, 1))
	d.record(ctx, log, att)
	switch att.Outcome {
	case storage.DeliveryDelivered:
		log.InfoContext(ctx, "alert delivered", "status", att.StatusCode, "latency", att.Latency)
	case storage.DeliveryRetrying:
		log.InfoContext(ctx, "alert delivery failed; will retry", "status", att.StatusCode, "error", att.Error)
	default:
		log.WarnContext(ctx, "alert delivery discarded", "status", att.StatusCode, "error", att.Error)
	}
	return jobErr
}

// record stores an attempt; a failure is logged.
func (d *Deliverer) record(ctx context.Context, log *slog.Logger, att *storage.AlertDelivery) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if _, err := d.Store.AlertDeliveryRecord(rctx, att); err != nil {
		log.WarnContext(ctx, "could not record the delivery attempt", "error", err)
	}
}

// attempt sends msg to ch once. It returns the attempt, to record, and the
// job's error: nil when delivered, an error (wrapped with worker.RetryIn
// when the receiver asked for a delay) to retry, or one wrapping
// worker.ErrDiscard to give up. n is the attempt's number, of
// maxAttempts; on the last one, or with maxAttempts <= 0 (no retries), a
// failure is discarded. The errors' texts are the attempt's Error.
func (d *Deliverer) attempt(ctx context.Context, ch *storage.Channel, msg *message, n, maxAttempts int) (*storage.AlertDelivery, error) {
	last := maxAttempts <= 0 || n >= maxAttempts
	att := &storage.AlertDelivery{
		DeliveryID: msg.deliveryID, ChannelID: ch.ID, RuleID: msg.ruleID, ExecutionID: msg.executionID,
		Event: msg.event, Attempt: n, Payload: msg.body,
	}
	discard := func(why string) (*storage.AlertDelivery, error) {
		att.Outcome, att.Error = storage.DeliveryDiscarded, clean(why, maxErrorText)
		return att, discardError(att.Error)
	}
	retry := func(why string, after time.Duration) (*storage.AlertDelivery, error) {
		if last {
			if maxAttempts > 0 {
				why = fmt.Sprintf("%s; gave up after %d attempt%s", why, n, plural(n))
			}
			return discard(why)
		}
		att.Outcome, att.Error = storage.DeliveryRetrying, clean(why, maxErrorText)
		err := errors.New(att.Error)
		if after > 0 {
			return att, worker.RetryIn(after, err)
		}
		return att, err
	}

	body := msg.body
	if ch.Kind == storage.ChannelSlack {
		var ev Event
		if err := json.Unmarshal(msg.body, &ev); err != nil {
			return discard("the message is unreadable")
		}
		b, err := slackBody(&ev)
		if err != nil {
			return discard("the message could not be rendered for Slack")
		}
		body = b
		att.Payload = b
	}
	u, err := url.Parse(ch.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return discard("the channel's URL is not an http or https URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return discard("the request could not be made")
	}
	for name, value := range ch.Headers {
		if !validHeader(name, value) {
			return discard(fmt.Sprintf("the channel's header %q is not a valid HTTP header", clean(name, 100)))
		}
		if !ReservedHeader(name) {
			req.Header.Set(name, value)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	if d.UserAgent != "" {
		req.Header.Set("User-Agent", d.UserAgent)
	}
	req.Header.Set(HeaderEvent, msg.event)
	req.Header.Set(HeaderDelivery, msg.deliveryID.String())
	if ch.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(ch.Secret, d.now(), body))
	}

	start := time.Now()
	resp, err := d.client().Do(req)
	if err != nil {
		att.Latency = time.Since(start)
		why := describeSendError(err)
		if netguard.IsBlocked(err) {
			return discard(why)
		}
		if ctx.Err() != nil && maxAttempts > 0 {
			// The job was cancelled or the worker is stopping; the
			// worker decides what becomes of it.
			att.Outcome, att.Error = storage.DeliveryRetrying, why
			return att, fmt.Errorf("%s: %w", why, context.Cause(ctx))
		}
		return retry(why, 0)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerRead))
	_ = resp.Body.Close()
	att.Latency = time.Since(start)
	att.StatusCode = resp.StatusCode
	att.Response = clean(string(answer), maxAnswerKept)

	code := resp.StatusCode
	why := "receiver answered " + strconv.Itoa(code)
	switch {
	case code >= 200 && code < 300:
		att.Outcome = storage.DeliveryDelivered
		return att, nil
	case code == http.StatusTooManyRequests || code >= 500:
		after, _ := retryAfter(resp.Header.Get("Retry-After"), d.now())
		return retry(why, after)
	case code >= 300 && code < 400:
		return discard(why + "; redirects are not followed")
	default:
		return discard(why)
	}
}

// ReservedHeaders are the request headers, in canonical form, that a
// channel's extra headers cannot set: those the deliverer sets, and those
// that HTTP itself manages. X-Astro-* are reserved as well. The API
// refuses them when a channel is saved; the deliverer never sends them.
var ReservedHeaders = []string{
	"Connection", "Content-Encoding", "Content-Length", "Content-Type", "Host", "Keep-Alive",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent",
}

// ReservedHeader reports whether a channel's extra header names one of
// ReservedHeaders or an X-Astro-* header: those are never taken from the
// channel.
func ReservedHeader(name string) bool {
	c := textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))
	return strings.HasPrefix(c, "X-Astro-") || slices.Contains(ReservedHeaders, c)
}

// discardError is a job error that gives up, whose text is text alone: it
// becomes the job's last_error, which the API shows.
func discardError(text string) error { return &readableError{text: text, err: worker.ErrDiscard} }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// validHeader reports whether name is an HTTP token and value holds no
// control characters other than tab.
func validHeader(name, value string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date,
// as a delay from now, at most worker.MaxRetryDelay.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(worker.MaxRetryDelay/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(t.Sub(now), 0), worker.MaxRetryDelay), true
	}
	return 0, false
}

// describeSendError says in a few words why a request got no answer. It
// never includes the URL, which for Slack is a secret.
func describeSendError(err error) string {
	if b, ok := errors.AsType[*netguard.BlockedError](err); ok {
		return "blocked by the network policy: " + b.Error()
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "could not resolve " + dnsErr.Name + ": no such host"
		}
		return "could not resolve " + dnsErr.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the receiver"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "receiver unreachable"
	case errors.As(err, &certErr):
		return "TLS certificate not trusted: " + certErr.Err.Error()
	case errors.As(err, &recordErr):
		return "TLS handshake failed: the receiver does not speak TLS"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timed out after " + sendTimeout.String()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the receiver closed the connection without answering"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // Its text names the URL.
	}
	return "request failed: " + err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestChannel sends a sample message to ch now: event "test", about a
// made-up plan and execution that the message says are a sample. It makes
// one attempt, without retries, records it (delivered or discarded) and
// returns it, with the receiver's status and the start of its answer. It
// returns an error only when the attempt could not be recorded (with the
// attempt, unrecorded); ErrNotFound then means that the channel was
// deleted meanwhile.
func (d *Deliverer) TestChannel(ctx context.Context, ch *storage.Channel) (*storage.AlertDelivery, error) {
	ev := sampleEvent(d.now())
	body, err := encodeEvent(ev)
	if err != nil {
		return nil, fmt.Errorf("encode the sample message: %w", err)
	}
	msg := &message{deliveryID: ev.DeliveryID, body: body, event: ev.Event}
	att, _ := d.attempt(ctx, ch, msg, 1, 0)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	rec, err := d.Store.AlertDeliveryRecord(rctx, att)
	if err != nil {
		return att, fmt.Errorf("record the test delivery: %w", err)
	}
	return rec, nil
}

// sampleEvent returns the sample message of a channel test, made at now:
// event "test", no rule, and a made-up plan and execution (nil IDs, named
// as a sample) with one failed step.
func sampleEvent(now time.Time) *Event {
	now = now.UTC().Truncate(time.Second)
	started := now.Add(-2 * time.Second)
	return &Event{
		Version:    Version,
		Event:      EventTest,
		DeliveryID: uuid.Must(uuid.NewV7()),
		CreatedAt:  now,
		Plan:       EventPlan{Name: "Sample plan (a test message from astro-runner)", Revision: 1},
		Execution: EventExecution{
			URL:        "",
			Status:     string(storage.ExecutionFailed),
			Trigger:    string(storage.TriggerAPI),
			CreatedAt:  started,
			StartedAt:  &started,
			FinishedAt: &now,
		},
		ConsecutiveFailures: 1,
		FailedSteps: []FailedStep{{
			Index: 0, Name: "Sample step", Status: "failed",
			Assertion: &FailedAssertion{Kind: "status", Expected: "200", Actual: "503", Message: "expected status 200, got 503"},
		}},
	}
}
