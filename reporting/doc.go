// Package reporting answers what happened to a tenant's sessions — grouped reports and
// one-row-per-session exports — and tells the tenant's own systems as it happens, through event
// subscriptions delivered by webhook. It reads the tables routing and outbound sending write
// (sessions, messages, users, queues, teams) and owns the event subscriptions and their outbox.
// It must not import gateway, routing or cmd.
//
// # Session reports
//
// A report covers the sessions created in a half-open range [from, to) and groups them by any
// combination of dimensions: type (the display type fixed at creation), agent (the session's
// assignee: its last one, shown under its id and current name even after the user was
// deactivated; never-assigned sessions form a row with null agent), queue (the queue the session
// is in now), team (the assignee's primary team when assigned, so a later move does not rewrite
// history), number (the tenant's E.164 number), day and hour. Days and hours are the tenant's
// (tenants.timezone): day is the local date ("2026-03-08"), hour the start of the local clock
// hour with its offset ("2026-03-08T14:00:00-04:00"). A spring-forward day therefore has 23 hour
// rows and a fall-back day 25, its repeated 01:00 being two rows told apart by their offsets.
//
// from and to are RFC 3339 instants or YYYY-MM-DD dates; a date is the start of that day in the
// tenant's zone, so from=2026-03-01&to=2026-04-01 is exactly March there. to must be after from
// and at most 366 days later.
//
// The figures of a row, over the sessions in it:
//
//   - sessions: how many.
//   - messages_in, messages_out: their messages in each direction, whenever sent (a session
//     created on the 31st counts its texts of the 1st). messages_out counts every outbound row:
//     agents' texts and directsms's own (deflection, help, consent confirmations), whatever their
//     delivery status.
//   - deflected: sessions that got an after-hours deflection message.
//   - missed: sessions with at least one missed direct offer (missed_count > 0); misses: the
//     missed direct offers in all of them. Grouped by agent, these are sessions the agent ended
//     up with that someone (maybe the agent) had missed first.
//   - rerouted: sessions rerouted at least once; reroutes: reroutes in all of them.
//   - median_first_response_seconds: over inbound sessions (both Messaging Inbound types) that
//     have one, the median of the time from the first inbound text to the first agent text after
//     it (direction out, kind text, written by a user). Deflections and automatic replies are not
//     responses. Outbound sessions have none. null when no session of the row has one.
//   - median_handling_seconds: over closed sessions that were assigned, the median of the time
//     from the last assignment to closing. null when none.
//
// Medians interpolate between the two middle values when there is an even number of them.
// Message figures come from counters on each session (messages_in, messages_out and the times
// of its first inbound message and first agent text) that a trigger on messages keeps for every
// writer, so a report reads sessions alone: a month of a tenant with a million sessions a year
// grouped by day and type answers in about a third of the time a per-session join over messages
// takes, for one heap-only update per inserted message.
//
// An export lists the same range one session per row, with the same figures per session
// (missed and rerouted being that session's counts), streamed as it is read.
//
// # Events
//
// Events are stored inside the transaction of the change they describe, by the SQL function
// reporting_enqueue (sql/migrations/0010_event_producers.sql): the event once, with one
// delivery per subscription that wants it, or nothing when none does. Row triggers in that
// migration call it for the six event types — on sessions (created; open → closed), messages
// (inserted in or out; an outbound status change) and user_status_changes — so routing,
// outbound sending and directory produce events without importing this package. Go code that
// has an event of its own calls [Enqueue], which runs the same function. A [Dispatcher] claims
// due deliveries with FOR UPDATE SKIP LOCKED, so any number of processes share the work, and
// POSTs each as an [Envelope]:
//
//	{"id": "…", "type": "session.closed", "tenant_id": "…", "occurred_at": "…", "data": {…}}
//
// signed with X-Directsms-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the
// subscription's secret> (see [Sign], [VerifySignature]). A 2xx answer delivers it. Anything
// else — another status, a redirect, a timeout, no connection — is retried after
// [DefaultBackoff] (10 s doubling to an hour) up to [DefaultMaxAttempts] tries, with the same
// event id each time: delivery is at least once, and receivers drop repeats by id. Deliveries of
// one subscription may arrive out of order; occurred_at orders them. Every try is logged with
// its time, status code or error, and duration.
//
// Subscription URLs must be absolute http(s) URLs whose host resolves only to public addresses
// unless the deployment allows private ones; the dispatcher checks the address it actually
// connects to as well, so a name re-pointed at a private address later is refused at delivery.
package reporting
