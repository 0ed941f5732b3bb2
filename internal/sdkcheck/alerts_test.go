package sdkcheck

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
	astro "github.com/astro-runner/astro-runner/sdk/go"
)

// webhookReceiver records the alerts POSTed to it: their signature header
// and raw body.
type webhookReceiver struct {
	url string
	mu  sync.Mutex
	got []receivedAlert
}

type receivedAlert struct {
	signature, delivery, event string
	body                       []byte
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	rec := &webhookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.got = append(rec.got, receivedAlert{
			signature: r.Header.Get("X-Astro-Signature"), delivery: r.Header.Get("X-Astro-Delivery"),
			event: r.Header.Get("X-Astro-Event"), body: body,
		})
		rec.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rec.url = srv.URL + "/hook"
	return rec
}

func (r *webhookReceiver) alerts() []receivedAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedAlert(nil), r.got...)
}

func TestGoSDKAlertsMemory(t *testing.T) {
	t.Parallel()
	testGoSDKAlerts(t, memoryStore(t))
}

func TestGoSDKAlertsPostgres(t *testing.T) {
	t.Parallel()
	testGoSDKAlerts(t, postgresStore(t))
}

// testGoSDKAlerts sets up a webhook channel and an alert rule through the
// generated client, runs a failing plan, and checks what the receiver got
// with the SDK's own types: the body decodes as an astro.AlertEvent and
// astro.VerifyWebhook accepts its signature with the channel's secret only.
func testGoSDKAlerts(t *testing.T, st storage.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := startServer(t, st, "")
	rec := newWebhookReceiver(t)
	c, err := astro.New(s.url)
	require.NoError(t, err)
	const secret = "whsec-sdk-0123456789"

	ch, err := c.API().CreateChannelWithResponse(ctx, astro.ChannelCreateBody{
		Name: "sdk-hook", Kind: astro.ChannelCreateBodyKind("webhook"), Url: rec.url, Secret: ptr(secret),
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, ch.StatusCode(), "%s", ch.Body)
	require.NotContains(t, string(ch.Body), secret, "the secret is write-only")
	channel := viaJSON[struct {
		ID        string `json:"id"`
		HasSecret bool   `json:"has_secret"`
	}](t, ch.JSON201)
	require.True(t, channel.HasSecret)
	channelID, err := astro.ParseUUID(channel.ID)
	require.NoError(t, err)

	// The plan fails: its step asserts a status the target does not send.
	var body astro.PlanBody
	require.NoError(t, json.Unmarshal([]byte(`{"name":"sdk-alerts","document":{"steps":[{"name":"GET /missing",`+
		`"request":{"method":"GET","url":"`+s.target+`/missing"},"assert":{"status":[200]}}]}}`), &body))
	plan, err := c.CreatePlan(ctx, body)
	require.NoError(t, err)
	var rule astro.AlertRuleBody
	require.NoError(t, json.Unmarshal([]byte(`{"plan_id":"`+plan.Id.String()+`","channels":["`+channel.ID+`"]}`), &rule))
	created, err := c.API().CreateAlertRuleWithResponse(ctx, rule)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, created.StatusCode(), "%s", created.Body)

	exec, err := c.RunPlan(ctx, plan.Id, astro.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, "failed", string(exec.Status))

	require.Eventually(t, func() bool { return len(rec.alerts()) == 1 }, 30*time.Second, 20*time.Millisecond)
	got := rec.alerts()[0]
	var event astro.AlertEvent
	require.NoError(t, json.Unmarshal(got.body, &event))
	require.Equal(t, "execution.failed", string(event.Event))
	require.Equal(t, got.event, string(event.Event))
	require.Equal(t, exec.Id, event.Execution.Id)
	require.Equal(t, "sdk-alerts", event.Plan.Name)
	require.Equal(t, got.delivery, event.DeliveryId.String())
	require.NotEmpty(t, event.FailedSteps)
	require.NoError(t, astro.VerifyWebhook(secret, got.signature, got.body, 0))
	require.ErrorIs(t, astro.VerifyWebhook("whsec-another-secret", got.signature, got.body, 0), astro.ErrBadSignature)

	// The deliveries log shows the attempt, delivered.
	require.Eventually(t, func() bool {
		res, err := c.API().ListChannelDeliveriesWithResponse(ctx, channelID, &astro.ListChannelDeliveriesParams{})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode(), "%s", res.Body)
		list := viaJSON[struct {
			Deliveries []struct {
				DeliveryID string `json:"delivery_id"`
				Outcome    string `json:"outcome"`
			} `json:"deliveries"`
		}](t, res.JSON200)
		return len(list.Deliveries) == 1 && list.Deliveries[0].Outcome == "delivered" &&
			list.Deliveries[0].DeliveryID == got.delivery
	}, 10*time.Second, 20*time.Millisecond)
}

func ptr[T any](v T) *T { return &v }
