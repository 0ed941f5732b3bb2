package planrun

import "encoding/json"

// useStoredSecrets makes the values of stored secrets available to
// {{secret.NAME}} and scrubs every one of them from the results. Values
// shorter than minSecretLength are not scrubbed, as they would garble
// other text; the API refuses to store them.
func (rn *run) useStoredSecrets(secrets map[string]string) {
	rn.stored = secrets
	for _, value := range secrets {
		rn.addSecret(value)
	}
}

// scrubExpected returns an assertion's expected value with secrets
// replaced. Expected values come from the plan, but a plan may hold a
// secret's value literally: a string is scrubbed, and any other value whose
// JSON text holds a secret becomes its scrubbed JSON text.
func (sc *scrubber) scrubExpected(v any) any {
	if sc == nil || v == nil {
		return v
	}
	if s, ok := v.(string); ok {
		return sc.scrub(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	if text := sc.scrub(string(b)); text != string(b) {
		return text
	}
	return v
}
