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
//	GET /system/events[?userId=]     Server-Sent Events of Kafka records (not OpenFaaS)
//	GET /system/overview             Server-Sent Events for the UI's System page (not OpenFaaS)
//	POST /system/dead-letters/replay replay dead letters (not OpenFaaS)
//	GET /metrics                     Prometheus metrics under OpenFaaS's names
//
// A call to a function with no ready replica (scaled to zero) waits while
// Config.Wake starts one, as the OpenFaaS gateway does, and is then proxied.
//
// As on OpenFaaS, /system/* needs HTTP basic auth as the admin (Config.AdminUser
// and AdminPassword; the runner keeps them in the secrets basic-auth-user and
// basic-auth-password, so `faas-cli login` works), compared in constant time;
// anything else answers 401 with a Basic challenge. /function/* and /healthz
// are open, as there: the functions check their own callers.
//
// Limits a caller meets: headers must arrive within ReadHeaderTimeout and a
// body within ReadBodyTimeout (408 after), which end once the request has
// arrived, so long-polls and event streams run on; an async call needs an API
// key (Config.APIKeys) before it is queued, and its X-Callback-Url may only
// name Config.CallbackHosts (this machine by default; others answer 400).
// Callbacks are sent by their own workers, each within CallbackTimeout, so one
// that never answers cannot hold up the queue.
//
// Every call carries X-Call-Id (kept when the caller sends one, a new UUID
// otherwise) and X-Start-Time (Unix nanoseconds) to the function and back to
// the caller. The request's method, path below the function name, query string,
// headers and body go to the function; its status, headers and body come back
// as a stream, so long-polls and slow answers pass through unbuffered.
//
// Where this gateway differs from the real one, on purpose:
//
//   - Async calls need a bearer API key before they are queued; the real
//     gateway queues any call and leaves the check to the function. Both
//     forward the key, so the function checks the call as for /function/.
//   - X-Callback-Url is limited to a list of hosts; the real queue-worker
//     posts to any.
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
//   - Its connections are bounded so the process cannot run out of open
//     files (budget.go): callers' connections by Config.MaxClientConns (at
//     the bound an idle keep-alive one is closed, else new callers wait to be
//     accepted), and each function's connections to its replicas together,
//     idle ones included, by Config.MaxConnsOf, which also bounds its calls in
//     flight. A call that finds them all busy waits up to its exec_timeout
//     and then answers 503 with Retry-After, not having reached the function.
//     The real gateway keeps up to max_idle_conns_per_host per replica and
//     leaves the rest to the node's limits.
//   - invocationCount counts calls since this gateway started, sync and async.
//   - /metrics shares the gateway's port (OpenFaaS serves it on 8082).
//   - /system/events is an addition for the local UI: every Kafka record the
//     runner's event source sees, as documented in docs/contracts.md ("Local
//     gateway event stream"); ?userId= keeps only that user's payments.
package gateway
