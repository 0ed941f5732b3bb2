package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The headers of a webhook delivery.
const (
	// HeaderSignature carries Sign's signature of the body, when the
	// channel has a secret.
	HeaderSignature = "X-Astro-Signature"
	// HeaderEvent carries the event of the body, such as
	// "execution.failed".
	HeaderEvent = "X-Astro-Event"
	// HeaderDelivery carries the delivery ID, the same on every attempt of
	// one message.
	HeaderDelivery = "X-Astro-Delivery"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock, either way, when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	// ErrSignatureMalformed means that the header is not
	// "t=<unix>,v1=<hex>".
	ErrSignatureMalformed = errors.New("malformed signature header")
	// ErrSignatureStale means that the signature's timestamp is further
	// from now than the tolerance: an old message replayed, or a clock
	// far off.
	ErrSignatureStale = errors.New("signature timestamp outside the tolerance")
	// ErrSignatureMismatch means that no v1 signature of the header is the
	// body's signature with the secret.
	ErrSignatureMismatch = errors.New("signature does not match")
)

// Sign returns the X-Astro-Signature value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 with secret of "<unix seconds>.<body>">",
// as Stripe signs its webhooks. Signing the time with the body lets a
// receiver refuse a message replayed later.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// mac is HMAC-SHA256 with secret of "<ts>.<body>".
func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a signature header made by Sign, as a receiver does: the
// header must hold a timestamp "t" within tolerance of now (either way;
// tolerance <= 0 means DefaultTolerance) and at least one "v1" signature
// equal, compared in constant time, to the signature of body with secret.
// Several v1 entries are allowed, so that a sender can sign with an old
// and a new secret while the secret changes. Other entries are ignored.
// Returns ErrSignatureMalformed, ErrSignatureStale or ErrSignatureMismatch.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureMalformed
		}
		switch key {
		case "t":
			if ts != "" {
				return ErrSignatureMalformed
			}
			ts = value
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return ErrSignatureMalformed
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrSignatureMalformed
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureStale
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
