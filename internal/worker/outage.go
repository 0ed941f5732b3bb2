package worker

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// outageLog logs storage trouble once per outage rather than once per
// poll: the first storage.ErrUnavailable after a success is a warning,
// later ones are debug, and the first success at least outageSettle after
// the last failure says the store recovered. The settling time keeps one
// outage from being reported twice when a server that is going down still
// answers on some connections. Other errors are not outages; each is
// logged.
type outageLog struct {
	log      *slog.Logger
	now      func() time.Time
	mu       sync.Mutex
	down     bool
	fails    int
	lastFail time.Time
}

// outageSettle is how long after the last failure a success must come to
// end an outage.
const outageSettle = time.Second

func (o *outageLog) fail(what string, err error) {
	if !errors.Is(err, storage.ErrUnavailable) {
		o.log.Error("job store call failed", "op", what, "error", err)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fails++
	o.lastFail = o.now()
	if o.down {
		o.log.Debug("storage still unavailable", "op", what, "error", err)
		return
	}
	o.down = true
	o.log.Warn("storage unavailable; workers back off until it answers", "op", what, "error", err)
}

func (o *outageLog) ok() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down && o.now().Sub(o.lastFail) >= outageSettle {
		o.log.Info("storage answers again", "failed_calls", o.fails)
		o.down = false
		o.fails = 0
	}
}
