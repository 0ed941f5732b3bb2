package astro

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"
)

// sign makes a signature header as the server does.
func sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"execution.failed","plan":{"name":"checkout"}}`)
	now := time.Now()
	good := sign("whsec-0123456789abcdef", now, body)
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   []byte
		ok     bool
	}{
		{"signed with the secret", "whsec-0123456789abcdef", good, body, true},
		{"a second v1 among others", "whsec-0123456789abcdef", good + ",v1=00ff", body, true},
		{"another secret", "whsec-other-secret-000", good, body, false},
		{"a changed body", "whsec-0123456789abcdef", good, append([]byte(nil), append(body, ' ')...), false},
		{"too old", "whsec-0123456789abcdef", sign("whsec-0123456789abcdef", now.Add(-10*time.Minute), body), body, false},
		{"from the future", "whsec-0123456789abcdef", sign("whsec-0123456789abcdef", now.Add(10*time.Minute), body), body, false},
		{"no timestamp", "whsec-0123456789abcdef", "v1=abcd", body, false},
		{"no signature", "whsec-0123456789abcdef", "t=" + strconv.FormatInt(now.Unix(), 10), body, false},
		{"empty", "whsec-0123456789abcdef", "", body, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyWebhook(tc.secret, tc.header, tc.body, 0)
			if tc.ok && err != nil {
				t.Fatalf("VerifyWebhook = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("VerifyWebhook = %v, want ErrBadSignature", err)
			}
		})
	}
}
