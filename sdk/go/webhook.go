package astro

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultWebhookTolerance is the largest age (or clock skew) of a webhook's signature
// that VerifyWebhook accepts when given a tolerance of 0.
const DefaultWebhookTolerance = 5 * time.Minute

// ErrBadSignature is the error of VerifyWebhook for a request that astro-runner did not
// sign with the secret, or signed too long ago.
var ErrBadSignature = errors.New("astro: bad webhook signature")

// VerifyWebhook checks the X-Astro-Signature header of an alert delivered by a webhook
// channel: header is "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">" made with
// the channel's secret. It returns nil if one v1 signature matches the body (compared in
// constant time) and t is within tolerance of now (DefaultWebhookTolerance when 0);
// otherwise an error wrapping ErrBadSignature. Pass the body exactly as received, before
// decoding it.
func VerifyWebhook(secret, header string, body []byte, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix>,v1=<hex>", ErrBadSignature)
	}
	if age := time.Since(time.Unix(t, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed at %s, outside the tolerance of %s", ErrBadSignature, time.Unix(t, 0).UTC().Format(time.RFC3339), tolerance)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrBadSignature)
}
