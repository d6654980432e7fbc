package gateway

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"time"
)

// serveEvents streams the event hub as Server-Sent Events: the retained
// history first (or only what follows Last-Event-ID on a reconnect), then
// live events, with a comment line every SSEHeartbeat so idle streams survive
// proxies. ?userId=<id> limits it to that user's payments (the UI's server
// asks so for each visitor). The stream ends when the client leaves, when the
// hub disconnects a slow client, or at shutdown.
func (g *Gateway) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A server-wide write deadline, if one is ever set, must not end the stream.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		g.log.Warn("event stream: clear write deadline", "err", err)
	}

	replay, sub := g.events.subscribe(r.Header.Get("Last-Event-ID"), strings.ToLower(r.URL.Query().Get("userId")))
	defer g.events.unsubscribe(sub)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // tells nginx-like proxies not to buffer
	w.WriteHeader(http.StatusOK)

	out := bufio.NewWriter(w)
	// retry: how long a browser's EventSource waits before reconnecting.
	out.WriteString("retry: 2000\n: connected\n\n")
	for _, msg := range replay {
		writeSSE(out, msg)
	}
	if !g.flushSSE(out, rc) {
		return
	}
	g.log.Debug("event stream opened", "replayed", len(replay), "remote", r.RemoteAddr)

	heartbeat := time.NewTicker(g.cfg.SSEHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case msg, ok := <-sub.ch:
			if !ok {
				return // disconnected as too slow; the client reconnects and resumes
			}
			writeSSE(out, msg)
			// Send what is already waiting in one write.
			for n := len(sub.ch); n > 0; n-- {
				if msg, ok = <-sub.ch; !ok {
					break
				}
				writeSSE(out, msg)
			}
		case <-heartbeat.C:
			out.WriteString(": ping\n\n")
		case <-r.Context().Done():
			return
		case <-g.stopping:
			return
		}
		if !g.flushSSE(out, rc) {
			return
		}
	}
}

func writeSSE(out *bufio.Writer, msg message) {
	// msg.data is compact JSON: one line, so one data: field.
	out.WriteString("id: ")
	out.WriteString(msg.id)
	out.WriteString("\nevent: record\ndata: ")
	out.Write(msg.data)
	out.WriteString("\n\n")
}

// flushSSE pushes buffered lines to the client; false means the client is gone.
func (g *Gateway) flushSSE(out *bufio.Writer, rc *http.ResponseController) bool {
	if err := out.Flush(); err != nil {
		return false
	}
	if err := rc.Flush(); err != nil {
		g.log.Debug("event stream closed", "err", err)
		return false
	}
	return true
}
