package alert_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// receiver is a loopback webhook receiver that answers from a script and
// records every request.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	// answers are the statuses to answer, in order; the last repeats.
	answers []int
	// headers are set on every answer.
	headers map[string]string
	reqs    []recorded
}

type recorded struct {
	header http.Header
	body   []byte
	at     time.Time
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	t.Helper()
	rc := &receiver{answers: answers}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, recorded{header: r.Header.Clone(), body: body, at: time.Now()})
		code := rc.answers[min(n, len(rc.answers)-1)]
		for k, v := range rc.headers {
			w.Header().Set(k, v)
		}
		rc.mu.Unlock()
		if code == http.StatusFound {
			w.Header().Set("Location", rc.srv.URL+"/elsewhere")
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte("answer " + http.StatusText(code) + " \xff"))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

// deliverySetup is a fixture with a rule on one channel whose failure
// enqueued one deliver_alert job, and a pool that runs it.
func deliverySetup(t *testing.T, st storage.Store, url, secret string, headers map[string]string, maxAttempts int) (*fixture, *storage.Channel, *delivery) {
	t.Helper()
	f := newFixture(t, st)
	f.eval.MaxAttempts = maxAttempts
	ch := f.channel(t, url, secret, headers)
	f.rule(t, storage.AlertRuleCreateParams{OnFailure: true}, ch)
	f.finish(t, failed, failedResult)
	ds := f.deliveries(t)
	require.Len(t, ds, 1)
	return f, ch, ds[0]
}

func newDeliverer(t *testing.T, st storage.Store) *alert.Deliverer {
	return &alert.Deliverer{Store: st, UserAgent: "astro-runner/test", Logger: testLogger(t)}
}

func TestRetriedDeliveryKeepsItsIDAndBody(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		rc := newReceiver(t, 500, 500, 200)
		f, ch, d := deliverySetup(t, st, rc.srv.URL+"/hook", "whsec_test", nil, 5)
		startPool(t, st, newDeliverer(t, st), f.eval)
		job := waitFinal(t, st, d.job.ID)
		assert.Equal(t, storage.JobCompleted, job.State)
		assert.Equal(t, 3, job.Attempt)

		reqs := rc.requests()
		require.Len(t, reqs, 3)
		for i, r := range reqs {
			assert.Equal(t, d.DeliveryID.String(), r.header.Get("X-Astro-Delivery"), "attempt %d", i+1)
			assert.Equal(t, alert.EventFailed, r.header.Get("X-Astro-Event"))
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.Equal(t, "astro-runner/test", r.header.Get("User-Agent"))
			assert.Equal(t, []byte(d.RawEvent), r.body, "the body is the stored event, byte for byte")
			sig := r.header.Get("X-Astro-Signature")
			assert.True(t, verify("whsec_test", sig, r.body), "the README example verifies attempt %d", i+1)
			assert.False(t, verify("another", sig, r.body))
			assert.NoError(t, alert.Verify("whsec_test", sig, r.body, time.Now(), time.Minute))
		}

		got := attempts(t, st, ch.ID)
		require.Len(t, got, 3)
		delivered := 0
		for i, a := range got {
			assert.Equal(t, d.DeliveryID, a.DeliveryID)
			assert.Equal(t, i+1, a.Attempt)
			assert.Equal(t, d.RuleID, a.RuleID)
			assert.Equal(t, d.ExecID, a.ExecutionID)
			assert.Equal(t, alert.EventFailed, a.Event)
			assert.Equal(t, []byte(d.RawEvent), a.Payload)
			if a.Outcome == storage.DeliveryDelivered {
				delivered++
			}
		}
		assert.Equal(t, 1, delivered, "exactly one delivered attempt")
		assert.Equal(t, []storage.AlertDeliveryOutcome{storage.DeliveryRetrying, storage.DeliveryRetrying, storage.DeliveryDelivered},
			[]storage.AlertDeliveryOutcome{got[0].Outcome, got[1].Outcome, got[2].Outcome})
		assert.Equal(t, 500, got[0].StatusCode)
		assert.Equal(t, "receiver answered 500", got[0].Error)
		assert.Equal(t, 200, got[2].StatusCode)
		assert.Empty(t, got[2].Error)
		assert.Equal(t, "answer OK \uFFFD", got[2].Response, "the answer is kept as valid UTF-8")
		assert.Equal(t, "receiver answered 500", job.Errors[0].Error, "the job's error is readable")
	})
}

func TestReceiverDownIsDiscardedAfterTheLastAttempt(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		url := "http://" + l.Addr().String() + "/hook"
		require.NoError(t, l.Close())

		f, ch, d := deliverySetup(t, st, url, "", nil, 3)
		startPool(t, st, newDeliverer(t, st), f.eval)
		job := waitFinal(t, st, d.job.ID)
		assert.Equal(t, storage.JobDiscarded, job.State)
		assert.Equal(t, 3, job.Attempt)
		assert.Equal(t, "connection refused; gave up after 3 attempts", job.LastError)

		got := attempts(t, st, ch.ID)
		require.Len(t, got, 3)
		assert.Equal(t, storage.DeliveryRetrying, got[0].Outcome)
		assert.Equal(t, "connection refused", got[0].Error)
		assert.Equal(t, storage.DeliveryRetrying, got[1].Outcome)
		last := got[2]
		assert.Equal(t, storage.DeliveryDiscarded, last.Outcome)
		assert.Equal(t, "connection refused; gave up after 3 attempts", last.Error)
		assert.Zero(t, last.StatusCode)
		assert.NotContains(t, last.Error, l.Addr().String(), "no URL in the error")
	})
}

func TestRetryAfterDelaysTheNextAttempt(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		rc := newReceiver(t, 429, 200)
		rc.headers = map[string]string{"Retry-After": "1"}
		f, ch, d := deliverySetup(t, st, rc.srv.URL, "", nil, 5)
		startPool(t, st, newDeliverer(t, st), f.eval)

		var job *storage.Job
		require.Eventually(t, func() bool {
			j, err := st.JobGet(t.Context(), d.job.ID)
			if err != nil {
				return false
			}
			job = j
			return len(j.Errors) >= 1
		}, waitFor, tick)
		require.Equal(t, "receiver answered 429", job.Errors[0].Error)
		if job.State == storage.JobRetryable {
			// run_at and the error's time come from the same statement.
			assert.GreaterOrEqual(t, job.RunAt.Sub(job.Errors[0].At), time.Second)
		}
		job = waitFinal(t, st, d.job.ID)
		assert.Equal(t, storage.JobCompleted, job.State)
		reqs := rc.requests()
		require.Len(t, reqs, 2)
		// The receiver's own clock: the second request came at least a
		// second after the first was answered.
		assert.GreaterOrEqual(t, reqs[1].at.Sub(reqs[0].at), time.Second)
		got := attempts(t, st, ch.ID)
		require.Len(t, got, 2)
		assert.Equal(t, 429, got[0].StatusCode)
		assert.Equal(t, storage.DeliveryRetrying, got[0].Outcome)
	})
}

func TestClientErrorsAreDiscardedAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		code int
		want string
	}{
		{"bad request", 400, "receiver answered 400"},
		{"gone", 410, "receiver answered 410"},
		{"redirect", 302, "receiver answered 302; redirects are not followed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eachStore(t, func(t *testing.T, st storage.Store) {
				rc := newReceiver(t, tc.code)
				f, ch, d := deliverySetup(t, st, rc.srv.URL, "", nil, 5)
				startPool(t, st, newDeliverer(t, st), f.eval)
				job := waitFinal(t, st, d.job.ID)
				assert.Equal(t, storage.JobDiscarded, job.State)
				assert.Equal(t, 1, job.Attempt)
				assert.Equal(t, tc.want, job.LastError)
				require.Len(t, rc.requests(), 1, "one request, and no redirect followed")
				got := attempts(t, st, ch.ID)
				require.Len(t, got, 1)
				assert.Equal(t, storage.DeliveryDiscarded, got[0].Outcome)
				assert.Equal(t, tc.code, got[0].StatusCode)
				assert.Equal(t, tc.want, got[0].Error)
			})
		})
	}
}

func TestDeletedChannelIsDiscardedWithNothingSent(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		rc := newReceiver(t, 200)
		f := newFixture(t, st)
		ch := f.channel(t, rc.srv.URL, "", nil)
		r := f.rule(t, storage.AlertRuleCreateParams{OnFailure: true}, ch)
		f.finish(t, failed, failedResult)
		ds := f.deliveries(t)
		require.Len(t, ds, 1)
		require.NoError(t, st.AlertRuleDelete(t.Context(), r.ID))
		require.NoError(t, st.ChannelDelete(t.Context(), ch.ID))

		startPool(t, st, newDeliverer(t, st), f.eval)
		job := waitFinal(t, st, ds[0].job.ID)
		assert.Equal(t, storage.JobDiscarded, job.State)
		assert.Contains(t, job.LastError, "no longer exists")
		assert.Empty(t, rc.requests())
		assert.Empty(t, attempts(t, st, ch.ID))
	})
}

func TestExtraHeadersCannotReplaceAstroHeaders(t *testing.T) {
	t.Parallel()
	forged := map[string]string{
		"X-Astro-Delivery": "forged", "x-astro-event": "forged", "X-Astro-Signature": "forged", "X-Astro-Extra": "forged",
		"Content-Type": "text/plain", "User-Agent": "forged", "Authorization": "Bearer token", "X-Team": "core",
	}
	for _, secret := range []string{"", "whsec_h"} {
		eachStore(t, func(t *testing.T, st storage.Store) {
			rc := newReceiver(t, 200)
			f, _, d := deliverySetup(t, st, rc.srv.URL, secret, forged, 5)
			startPool(t, st, newDeliverer(t, st), f.eval)
			waitFinal(t, st, d.job.ID)
			reqs := rc.requests()
			require.Len(t, reqs, 1)
			h := reqs[0].header
			assert.Equal(t, d.DeliveryID.String(), h.Get("X-Astro-Delivery"))
			assert.Equal(t, alert.EventFailed, h.Get("X-Astro-Event"))
			assert.Equal(t, "application/json", h.Get("Content-Type"))
			assert.Equal(t, "astro-runner/test", h.Get("User-Agent"))
			assert.Empty(t, h.Get("X-Astro-Extra"))
			assert.Equal(t, "Bearer token", h.Get("Authorization"))
			assert.Equal(t, "core", h.Get("X-Team"))
			assert.Len(t, h.Values("X-Astro-Delivery"), 1)
			if secret == "" {
				assert.Empty(t, h.Get("X-Astro-Signature"), "no secret, no signature, and never the channel's")
			} else {
				assert.Len(t, h.Values("X-Astro-Signature"), 1)
				assert.True(t, verify(secret, h.Get("X-Astro-Signature"), reqs[0].body))
			}
		})
	}
}

func TestBlockedDestinationIsDiscardedAtOnce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		rc := newReceiver(t, 200)
		policy, err := netguard.ParsePolicy("", "127.0.0.1")
		require.NoError(t, err)
		f, ch, d := deliverySetup(t, st, rc.srv.URL, "", nil, 5)
		dl := newDeliverer(t, st)
		dl.Client = alert.NewHTTPClient(policy)
		startPool(t, st, dl, f.eval)
		job := waitFinal(t, st, d.job.ID)
		assert.Equal(t, storage.JobDiscarded, job.State)
		assert.Equal(t, 1, job.Attempt)
		assert.True(t, strings.HasPrefix(job.LastError, "blocked by the network policy: "), job.LastError)
		assert.Contains(t, job.LastError, "127.0.0.1")
		assert.Empty(t, rc.requests())
		got := attempts(t, st, ch.ID)
		require.Len(t, got, 1)
		assert.Equal(t, storage.DeliveryDiscarded, got[0].Outcome)
		assert.Equal(t, job.LastError, got[0].Error)
	})
}

func TestSlackChannelGetsBlockKit(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		rc := newReceiver(t, 200)
		f := newFixture(t, st)
		ch, err := st.ChannelCreate(t.Context(), &storage.ChannelCreateParams{Name: "slack", Kind: storage.ChannelSlack, URL: rc.srv.URL + "/services/T/B/X"})
		require.NoError(t, err)
		f.rule(t, storage.AlertRuleCreateParams{OnFailure: true}, ch)
		f.finish(t, failed, failedResult)
		ds := f.deliveries(t)
		require.Len(t, ds, 1)
		startPool(t, st, newDeliverer(t, st), f.eval)
		waitFinal(t, st, ds[0].job.ID)
		reqs := rc.requests()
		require.Len(t, reqs, 1)
		var msg struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		require.NoError(t, json.Unmarshal(reqs[0].body, &msg))
		assert.Contains(t, msg.Text, "checkout failed")
		assert.NotEmpty(t, msg.Blocks)
		assert.Contains(t, string(reqs[0].body), "http://astro.test/execution/"+ds[0].ExecID.String())
		assert.Contains(t, string(reqs[0].body), "Health")
		got := attempts(t, st, ch.ID)
		require.Len(t, got, 1)
		assert.Equal(t, reqs[0].body, got[0].Payload, "the payload recorded is the one sent")
		assert.Equal(t, storage.DeliveryDelivered, got[0].Outcome)
	})
}

func TestTestChannelSendsASampleAndRecordsIt(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		rc := newReceiver(t, 200)
		f := newFixture(t, st)
		ch := f.channel(t, rc.srv.URL, "whsec_t", nil)
		dl := newDeliverer(t, st)
		att, err := dl.TestChannel(t.Context(), ch)
		require.NoError(t, err)
		assert.Equal(t, storage.DeliveryDelivered, att.Outcome)
		assert.Equal(t, 200, att.StatusCode)
		assert.Equal(t, "answer OK \uFFFD", att.Response)
		assert.Equal(t, alert.EventTest, att.Event)
		reqs := rc.requests()
		require.Len(t, reqs, 1)
		assert.True(t, verify("whsec_t", reqs[0].header.Get("X-Astro-Signature"), reqs[0].body))
		var ev alert.Event
		require.NoError(t, json.Unmarshal(reqs[0].body, &ev))
		assert.Equal(t, alert.EventTest, ev.Event)
		assert.Nil(t, ev.Rule)
		assert.Contains(t, ev.Plan.Name, "test message")
		assert.Equal(t, att.DeliveryID, ev.DeliveryID)
		got := attempts(t, st, ch.ID)
		require.Len(t, got, 1)
		assert.Equal(t, att.ID, got[0].ID)

		// A receiver that fails is not retried: the attempt is discarded.
		bad := newReceiver(t, 503)
		ch2 := f.channel(t, bad.srv.URL, "", nil)
		att, err = dl.TestChannel(t.Context(), ch2)
		require.NoError(t, err)
		assert.Equal(t, storage.DeliveryDiscarded, att.Outcome)
		assert.Equal(t, 503, att.StatusCode)
		assert.Len(t, bad.requests(), 1)
	})
}

// TestReceiverHeadersAreBounded checks that the headers of a receiver's
// answer are bounded, as its body is: an answer with a megabyte of
// headers is refused, not read.
func TestReceiverHeadersAreBounded(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("h", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Huge", huge)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ch := f.channel(t, srv.URL, "", nil)
		dl := newDeliverer(t, st)
		dl.Client = alert.NewHTTPClient(nil)
		att, err := dl.TestChannel(t.Context(), ch)
		require.NoError(t, err)
		assert.Equal(t, storage.DeliveryDiscarded, att.Outcome)
		assert.Zero(t, att.StatusCode)
		assert.Contains(t, att.Error, "headers exceeded")
	})
}
