package deflection

import "time"

// ReplyGrace is how recently an agent must have replied in a session for an after-hours text in
// it not to be deflected: the contact is talking to a person, and an automatic "we are closed"
// would contradict them.
const ReplyGrace = 5 * time.Minute

// Reason says why Decide deflected or did not, for GET /v1/routing/explain and the session
// timeline.
type Reason string

// The reasons of a Decision.
const (
	// ReasonDeflected: deflection is on, the hours are closed and nothing holds it back.
	ReasonDeflected Reason = "deflected"
	// ReasonDisabled: deflection is off at the effective level.
	ReasonDisabled Reason = "disabled"
	// ReasonOpen: the hours are open.
	ReasonOpen Reason = "open"
	// ReasonAlreadyDeflected: the session was deflected in this closed period already.
	ReasonAlreadyDeflected Reason = "already_deflected"
	// ReasonAgentReplied: an agent replied in the session within ReplyGrace.
	ReasonAgentReplied Reason = "agent_replied"
)

// Decision is what after-hours deflection does with one inbound text.
type Decision struct {
	// Deflect says whether to send Message to the contact.
	Deflect bool
	// Period identifies the closed period the text arrived in (the instant it began, see
	// Schedule.ClosedPeriodStart); a deflecting caller stores it in sessions.deflected_period.
	// It is the zero Time when the hours are open or deflection is off, and for hours that did
	// not close within HorizonDays (one that never opens is one long closed period).
	Period time.Time
	// Message is the effective message with {next_open} filled in; set when Deflect is.
	Message string
	// Open says whether the hours are open at the text's time. Deflection that is off, or has no
	// hours, is never closed.
	Open bool
	// NextOpen is the next opening, in the hours' zone: the text's time itself when open, the
	// zero Time when the hours do not open within HorizonDays.
	NextOpen time.Time
	// Reason says why Deflect is what it is.
	Reason Reason
}

// Decide applies the deflection rules to a text arriving at now in a session: deflect when the
// effective settings are enabled and their hours closed, at most once per session and closed
// period (deflectedPeriod is the session's sessions.deflected_period, nil when never deflected),
// and not when an agent replied in the session within ReplyGrace (lastAgentReplyAt is
// sessions.last_agent_reply_at). It reads no clock and does no I/O.
func Decide(eff Effective, now time.Time, deflectedPeriod, lastAgentReplyAt *time.Time) Decision {
	loc, err := eff.Hours.Location()
	if !eff.Enabled || err != nil {
		return Decision{Open: true, NextOpen: now, Reason: ReasonDisabled}
	}
	if eff.Hours.IsOpen(now) {
		return Decision{Open: true, NextOpen: now.In(loc), Reason: ReasonOpen}
	}
	next, ok := eff.Hours.NextOpen(now)
	d := Decision{Period: eff.Hours.ClosedPeriodStart(now), NextOpen: next}
	switch {
	case deflectedPeriod != nil && deflectedPeriod.Equal(d.Period):
		d.Reason = ReasonAlreadyDeflected
	case lastAgentReplyAt != nil && now.Sub(*lastAgentReplyAt) < ReplyGrace:
		d.Reason = ReasonAgentReplied
	default:
		d.Deflect, d.Reason = true, ReasonDeflected
		d.Message = RenderMessage(eff.Message, now, next, ok, loc)
	}
	return d
}
