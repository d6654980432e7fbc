// Package gateway is a small stand-in for the OpenFaaS gateway, for local runs
// and tests. The local runner starts every function of stack.yml as its own OS
// process on a loopback port and puts this gateway in front of them, so the UI,
// scripts and tests talk to the same URLs as they would on a real cluster.
//
// Routes, following the OpenFaaS gateway's HTTP contract:
//
//	/function/<name>[/<path>]        any method, proxied to the function's process
//	/async-function/<name>[/<path>]  POST only: 202 at once, the call runs later
//	GET /system/functions            the functions as a JSON array
//	GET /system/function/<name>      one function: replicas, availableReplicas, invocationCount
//	POST /system/scale-function/<name> set its replicas (202), as OpenFaaS
//	GET /system/info                 provider "local" and version
//	GET /healthz                     "OK"
//	GET /system/events               Server-Sent Events of Kafka records (not OpenFaaS)
//	GET /system/overview             Server-Sent Events for the UI's System page (not OpenFaaS)
//	POST /system/dead-letters/replay replay dead letters (not OpenFaaS)
//	GET /metrics                     Prometheus metrics under OpenFaaS's names
//
// A call to a function with no ready replica (scaled to zero) waits while
// Config.Wake starts one, as the OpenFaaS gateway does, and is then proxied.
//
// Every call carries X-Call-Id (kept when the caller sends one, a new UUID
// otherwise) and X-Start-Time (Unix nanoseconds) to the function and back to
// the caller. The request's method, path below the function name, query string,
// headers and body go to the function; its status, headers and body come back
// as a stream, so long-polls and slow answers pass through unbuffered.
//
// Where this gateway differs from the real one, on purpose:
//
//   - No authentication anywhere, /system included. The real gateway puts
//     /system behind basic auth. This one is for a developer's machine and
//     listens on 127.0.0.1 by default; do not expose it.
//   - Asynchronous calls wait in a bounded in-memory queue served by a few
//     workers, not in NATS JetStream. A full queue answers 429. Calls still
//     queued when the process exits are lost (Run waits for them up to the
//     shutdown timeout, then logs how many were dropped), and failed calls are
//     not retried. Use it to exercise the API shape, not delivery guarantees.
//   - /async-function/<unknown> answers 404; the real gateway accepts it with
//     202 and the call fails later in the queue-worker.
//   - A function whose process cannot be reached answers 502 Bad Gateway with
//     "Can't reach service for: <name>." (the real provider sends the same text
//     with 500). 502 says "the hop behind the gateway failed", which callers
//     and retry policies can tell apart from a function's own 500. A function
//     that is in the stack but has no process registered (not started yet, or
//     restarting) answers 503 with Retry-After, since waiting helps. A call
//     that outlives Config.UpstreamTimeout answers 504.
//   - invocationCount counts calls since this gateway started, sync and async.
//   - /metrics shares the gateway's port (OpenFaaS serves it on 8082).
//   - /system/events is an addition for the local UI: every Kafka record the
//     runner's event source sees, as documented in docs/contracts.md ("Local
//     gateway event stream").
package gateway
