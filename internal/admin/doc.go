// Package admin is a member's local admin API: HTTP over a unix socket at
// DIR/admin.sock, where DIR is the member's data directory.
//
// Badger lets one process at a time open a store, so CLI commands that take
// --data-dir ('lattice store dump', 'lattice apply') talk to a running member
// through this socket, and open the store directly only when Dial reports
// that no member is running (ErrNoMember). Both paths run the same code
// (Apply, Dump), so their output is identical.
//
// Endpoints (JSON; errors are {"error": "..."} with a 4xx/5xx status):
//
//	GET  /v1/status                 {"id":..,"resourceVersion":..,"objects":N}
//	GET  /v1/dump[?canonical=1]     JSON lines, one live object each, by key:
//	                                {"key":..,"resourceVersion":N,"generation":N,"value":{..}}
//	                                canonical=1 omits resourceVersion (a member-local
//	                                sequence), so converged members dump identical bytes
//	POST /v1/apply                  {"objects":[{..},..]} (at most 8 MiB) ->
//	                                {"results":[{"key":..,"resourceVersion":..,
//	                                "action":"created|configured|unchanged","error":..},..]}
//
// The socket is only reachable by the member's user: the data directory is
// created 0700 and the socket is 0600. There is no further authentication.
package admin
