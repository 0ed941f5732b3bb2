package alert_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/alert"
)

func TestSignVerifies(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"event":"execution.failed","delivery_id":"x"}`)
	header := alert.Sign("s3cret", now, body)

	// The documented shape, recomputed independently.
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write([]byte(strconv.FormatInt(now.Unix(), 10) + "." + string(body)))
	assert.Equal(t, "t="+strconv.FormatInt(now.Unix(), 10)+",v1="+hex.EncodeToString(m.Sum(nil)), header)

	require.NoError(t, alert.Verify("s3cret", header, body, now, time.Minute))
	require.NoError(t, alert.Verify("s3cret", header, body, now.Add(59*time.Second), time.Minute))
	require.NoError(t, alert.Verify("s3cret", header, body, now.Add(4*time.Minute), 0), "default tolerance is 5 min")

	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"another secret", "other", header, body, now, alert.ErrSignatureMismatch},
		{"empty secret", "", header, body, now, alert.ErrSignatureMismatch},
		{"changed body", "s3cret", header, []byte(`{"event":"execution.recovered","delivery_id":"x"}`), now, alert.ErrSignatureMismatch},
		{"body with a trailing newline", "s3cret", header, append(append([]byte{}, body...), '\n'), now, alert.ErrSignatureMismatch},
		{"stale timestamp", "s3cret", header, body, now.Add(61 * time.Second), alert.ErrSignatureStale},
		{"future timestamp", "s3cret", header, body, now.Add(-61 * time.Second), alert.ErrSignatureStale},
		{"changed timestamp", "s3cret", strings.Replace(header, "t=", "t=1", 1), body, time.Unix(1e9, 0), alert.ErrSignatureStale},
		{"timestamp moved within tolerance", "s3cret",
			"t=" + strconv.FormatInt(now.Unix()+1, 10) + header[strings.Index(header, ","):], body, now, alert.ErrSignatureMismatch},
		{"empty header", "s3cret", "", body, now, alert.ErrSignatureMalformed},
		{"no timestamp", "s3cret", header[strings.Index(header, ",")+1:], body, now, alert.ErrSignatureMalformed},
		{"no signature", "s3cret", header[:strings.Index(header, ",")], body, now, alert.ErrSignatureMalformed},
		{"two timestamps", "s3cret", header + ",t=1", body, now, alert.ErrSignatureMalformed},
		{"bad timestamp", "s3cret", "t=abc" + header[strings.Index(header, ","):], body, now, alert.ErrSignatureMalformed},
		{"non-hex signature", "s3cret", "t=1,v1=zz", body, now, alert.ErrSignatureMalformed},
		{"short signature", "s3cret", header[:len(header)-2], body, now, alert.ErrSignatureMalformed},
		{"no equals sign", "s3cret", "garbage", body, now, alert.ErrSignatureMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.ErrorIs(t, alert.Verify(tc.secret, tc.header, tc.body, tc.now, time.Minute), tc.want)
		})
	}
}

func TestVerifyAcceptsAnyOfSeveralSignatures(t *testing.T) {
	t.Parallel()
	now := time.Now()
	body := []byte(`{}`)
	oldSig := alert.Sign("old", now, body)
	newSig := alert.Sign("new", now, body)
	both := oldSig + "," + newSig[strings.Index(newSig, ",")+1:] + ",v0=ignored"
	assert.NoError(t, alert.Verify("old", both, body, now, 0))
	assert.NoError(t, alert.Verify("new", both, body, now, 0))
	assert.ErrorIs(t, alert.Verify("third", both, body, now, 0), alert.ErrSignatureMismatch)
}

// README:begin verify
// verify reports whether a webhook delivery is genuine: header is its
// X-Astro-Signature, body the raw request body, secret the channel's.
func verify(secret, header string, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && k == "t" {
			ts = v
		} else if ok && k == "v1" {
			sig = v
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(unix, 0)).Abs() > 5*time.Minute {
		return false // Missing, or too old: maybe replayed.
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	got, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(got, mac.Sum(nil))
}

// README:end verify

func TestReadmeVerifyExample(t *testing.T) {
	t.Parallel()
	body := []byte(`{"version":"1","event":"execution.failed"}`)
	header := alert.Sign("whsec_example", time.Now(), body)
	assert.True(t, verify("whsec_example", header, body))
	assert.False(t, verify("another", header, body))
	assert.False(t, verify("whsec_example", header, []byte(`{"version":"1","event":"execution.recovered"}`)))
	assert.False(t, verify("whsec_example", alert.Sign("whsec_example", time.Now().Add(-time.Hour), body), body))
	assert.False(t, verify("whsec_example", "", body))
}
