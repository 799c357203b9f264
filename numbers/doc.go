// Package numbers owns the tenant's phone-number inventory: normalization to
// E.164, the direct flag, verification and assignment rules, and their
// PostgreSQL store. It must not import gateway, routing or cmd.
//
// Two entry points turn text into numbers, and they differ on purpose.
// Normalize is for numbers the tenant owns or a user's personal number: only a
// valid phone number is accepted, and the result is an E164. ClassifyAddress is
// for the outside party of a conversation (an inbound From, an outbound To),
// which may legitimately be a short code or an alphanumeric sender id, so it
// returns an Address saying which of the three it is.
//
// Both parse with github.com/nyaruka/phonenumbers and require IsValidNumber
// before formatting: formatting a parse that is merely possible produces a
// plausible-looking but wrong E.164 string.
package numbers
