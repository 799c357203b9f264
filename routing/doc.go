// Package routing decides what happens to each text: sessions, offers to
// agents, queue fan-out, rerouting, consent and outbound sending. It may import
// numbers, deflection and directory; never gateway or cmd.
//
// The pure rules that every text passes through live here too:
// ClassifyKeyword recognises the opt-out, opt-in and help keywords carriers
// require us to honour, and CountSegments predicts how many SMS segments a
// body costs so that oversized outbound texts are refused before they reach a
// carrier.
//
// Inbound routing is a Service. Its rules run as PostgreSQL functions
// (sql/migrations/0005_routing.sql, 0012_inbound_batch.sql) so that inbound texts
// are committed before the carrier is answered, in one round trip and one
// transaction per batch: concurrent webhooks are stored together (batch.go, the
// group-commit batcher outbound shares). routing_inbound_batch drops duplicates
// on the carrier's message id, continues open sessions and opens new ones for the
// whole batch, and hands the rest to routing_inbound, which finds the number in
// the signing carrier account, applies consent keywords, continues or opens the
// contact's session and places a new one along its owner's fallback chain
// (owner, backup, the primary team's SMS queue, waiting in the personal queue),
// and writes the real-time events. Accept, CloseSession, Reroute, OfferWaiting
// and CloseIdle are the other ways a session moves; each is one statement too.
// Explain walks the same rules without changing anything.
//
// After-hours deflection (deflect.go) rides on the inbound batch: it answers
// the owner's effective deflection settings and the session's deflection state
// with each routed text, and only a text that is deflected costs a second
// statement. The missed-chat and unresponsive rules (thresholds.go) are sweeps
// the scheduled jobs run: SweepOffers settles direct offers that expired, did
// not reach a client or whose agent can no longer take them; EndCooldowns
// brings agents back after the tenant's cool-down.
package routing
