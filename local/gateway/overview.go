package gateway

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// serveOverview streams Config.Overview as Server-Sent Events, one "overview"
// event every OverviewEvery, until the client leaves or the gateway stops.
// A stack without an overview answers 404.
func (g *Gateway) serveOverview(w http.ResponseWriter, r *http.Request) {
	if g.cfg.Overview == nil {
		httpError(w, http.StatusNotFound, "No overview here.")
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		g.log.Warn("overview stream: clear write deadline", "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriter(w)
	out.WriteString("retry: 2000\n\n")
	tick := time.NewTicker(g.cfg.OverviewEvery)
	defer tick.Stop()
	for {
		data, err := json.Marshal(g.cfg.Overview(r.Context()))
		if err != nil {
			g.log.Error("encode overview", "err", err)
			return
		}
		out.WriteString("event: overview\ndata: ")
		out.Write(data)
		out.WriteString("\n\n")
		if !g.flushSSE(out, rc) {
			return
		}
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-g.stopping:
			return
		}
	}
}

// ReplayRequest asks to replay the dead letters of Topic: one, at Partition
// and Offset, or all when both are absent.
type ReplayRequest struct {
	Topic     string `json:"topic"`
	Partition *int32 `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
}

// ErrNoDeadLetters is what Config.Replay returns (wrapped) for a topic that
// is not a dead-letter topic, or a record that is not in it: 404.
var ErrNoDeadLetters = errors.New("no such dead letter")

// serveReplay answers {"replayed": n}.
func (g *Gateway) serveReplay(w http.ResponseWriter, r *http.Request) {
	var req ReplayRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req); err != nil || req.Topic == "" ||
		(req.Partition == nil) != (req.Offset == nil) {
		httpError(w, http.StatusBadRequest, `Body must be JSON {"topic": "<dead-letter topic>"} with "partition" and "offset" for one record.`)
		return
	}
	if g.cfg.Replay == nil {
		httpError(w, http.StatusNotImplemented, "Replay is not supported here.")
		return
	}
	n, err := g.cfg.Replay(r.Context(), req)
	if errors.Is(err, ErrNoDeadLetters) {
		httpError(w, http.StatusNotFound, "%v.", err)
		return
	}
	if err != nil {
		g.log.Warn("replay dead letters", "topic", req.Topic, "replayed", n, "err", err)
		httpError(w, http.StatusServiceUnavailable, "Replayed %d, then: %v.", n, err)
		return
	}
	g.log.Info("dead letters replayed", "topic", req.Topic, "replayed", n)
	g.writeJSON(w, map[string]int{"replayed": n})
}
