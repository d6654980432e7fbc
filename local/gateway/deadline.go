package gateway

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// limitBodyRead gives a request that has a body Config.ReadBodyTimeout to
// send all of it, so a caller that trickles a byte now and then cannot hold a
// connection and a handler forever. The deadline is lifted the moment the
// body has arrived: what follows (a long-poll, a slow function, an event
// stream) is the gateway's own wait, bounded elsewhere. http.Server's
// ReadTimeout cannot do this: it stays in force for the whole call and, once
// passed, cancels the request's context, long-polls included.
func (g *Gateway) limitBodyRead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			// ErrNotSupported (a test's recorder) leaves the body as it is.
			if rc.SetReadDeadline(time.Now().Add(g.cfg.ReadBodyTimeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline once the body has been
// read to its end. net/http then starts reading the connection in the
// background to notice a caller that leaves; with the deadline still set,
// that read would fail when it passed and cancel the call.
type deadlineBody struct {
	io.ReadCloser
	once sync.Once
	lift func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.once.Do(b.lift)
	}
	return n, err
}

// bodyReadError answers a request whose body could not be read: 408 when the
// caller was too slow, else 400.
func (g *Gateway) bodyReadError(w http.ResponseWriter, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.Header().Set("Connection", "close")
		httpError(w, http.StatusRequestTimeout, "The request body did not arrive within %s.", g.cfg.ReadBodyTimeout)
		return
	}
	httpError(w, http.StatusBadRequest, "Cannot read the request body: %v.", err)
}
