package gateway

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
)

// FunctionStatus is one element of /system/functions, with the field names of
// the OpenFaaS provider API. Counts are always present (the real gateway
// omits zeros) so that clients need no special case.
type FunctionStatus struct {
	Name              string            `json:"name"`
	Image             string            `json:"image"`
	Namespace         string            `json:"namespace"`
	EnvProcess        string            `json:"envProcess"`
	EnvVars           map[string]string `json:"envVars,omitempty"`
	Secrets           []string          `json:"secrets,omitempty"`
	Labels            map[string]string `json:"labels"`
	Annotations       map[string]string `json:"annotations"`
	Replicas          uint64            `json:"replicas"`
	AvailableReplicas uint64            `json:"availableReplicas"`
	InvocationCount   float64           `json:"invocationCount"`
}

// Info is the /system/info answer, shaped like the OpenFaaS gateway's.
type Info struct {
	Provider ProviderInfo `json:"provider"`
	Version  VersionInfo  `json:"version"`
	Arch     string       `json:"arch"`
}

// ProviderInfo names the backend that runs the functions.
type ProviderInfo struct {
	Name          string      `json:"provider"`
	Orchestration string      `json:"orchestration"`
	Version       VersionInfo `json:"version"`
}

// VersionInfo is a release and commit.
type VersionInfo struct {
	CommitMessage string `json:"commit_message,omitempty"`
	SHA           string `json:"sha"`
	Release       string `json:"release"`
}

func (g *Gateway) status(fn *function) FunctionStatus {
	meta := fn.meta
	replicas, available := g.replicas(meta.Name)
	return FunctionStatus{
		Name:              meta.Name,
		Image:             meta.Image,
		Namespace:         g.cfg.Namespace,
		EnvProcess:        g.cfg.EnvProcess,
		EnvVars:           meta.Environment,
		Secrets:           meta.Secrets,
		Labels:            nonNil(meta.Labels),
		Annotations:       nonNil(meta.Annotations),
		Replicas:          uint64(replicas),
		AvailableReplicas: uint64(available),
		InvocationCount:   float64(fn.invocations.Load()),
	}
}

// replicas returns a function's desired and ready replicas.
func (g *Gateway) replicas(name string) (replicas, available int) {
	if g.cfg.Replicas != nil {
		return g.cfg.Replicas(name)
	}
	ready := false
	if g.cfg.Ready != nil {
		ready = g.cfg.Ready(name)
	} else {
		_, ready = g.cfg.Upstream(name)
	}
	if ready {
		return 1, 1
	}
	return 1, 0
}

// ScaleRequest is the body of POST /system/scale-function/<name>, as in the
// OpenFaaS provider API.
type ScaleRequest struct {
	ServiceName string `json:"serviceName"`
	Replicas    *int   `json:"replicas"`
	Namespace   string `json:"namespace,omitempty"`
}

// serveScaleFunction sets a function's replicas and answers 202, as the
// OpenFaaS gateway does; the replicas start in the background.
func (g *Gateway) serveScaleFunction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := g.functions[name]; !ok {
		httpError(w, http.StatusNotFound, "Cannot find function: %s.", name)
		return
	}
	var req ScaleRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	if err := dec.Decode(&req); err != nil || req.Replicas == nil || *req.Replicas < 0 {
		httpError(w, http.StatusBadRequest, `Body must be JSON {"serviceName": "%s", "replicas": <0 or more>}.`, name)
		return
	}
	if req.ServiceName != "" && req.ServiceName != name {
		httpError(w, http.StatusBadRequest, "serviceName %q does not match the path's %q.", req.ServiceName, name)
		return
	}
	if g.cfg.Scale == nil {
		httpError(w, http.StatusNotImplemented, "Scaling is not supported here.")
		return
	}
	if err := g.cfg.Scale(name, *req.Replicas); err != nil {
		httpError(w, http.StatusBadRequest, "Cannot scale %s: %v.", name, err)
		return
	}
	g.log.Info("scaled", "function", name, "replicas", *req.Replicas)
	w.WriteHeader(http.StatusAccepted)
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (g *Gateway) serveFunctions(w http.ResponseWriter, r *http.Request) {
	list := make([]FunctionStatus, 0, len(g.sorted))
	for _, fn := range g.sorted {
		list = append(list, g.status(fn))
	}
	g.writeJSON(w, list)
}

func (g *Gateway) serveFunctionStatus(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	fn, ok := g.functions[name]
	if !ok {
		httpError(w, http.StatusNotFound, "Cannot find function: %s.", name)
		return
	}
	g.writeJSON(w, g.status(fn))
}

func (g *Gateway) serveInfo(w http.ResponseWriter, r *http.Request) {
	version := VersionInfo{SHA: buildRevision(), Release: g.cfg.Version}
	g.writeJSON(w, Info{
		Provider: ProviderInfo{Name: g.cfg.ProviderName, Orchestration: "local", Version: version},
		Version:  version,
		Arch:     runtime.GOARCH,
	})
}

// buildRevision is the VCS commit the binary was built from, when known.
func buildRevision() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

func (g *Gateway) serveHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("OK"))
}

func (g *Gateway) writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		g.log.Error("encode JSON answer", "err", err)
		httpError(w, http.StatusInternalServerError, "Cannot encode answer.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
