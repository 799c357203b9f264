// Package telnyx speaks Telnyx's messaging wire formats: it verifies the
// Ed25519 signature on webhooks, decodes message events (message.received,
// message.sent, message.finalized), and sends texts and looks up owned numbers
// through Telnyx's v2 REST API.
//
// It knows Telnyx and nothing of directsms: it must not import routing stores,
// cmd, or any other directsms package.
//
// Webhook handling, in order:
//
//  1. Read the raw body (bounded by http.MaxBytesReader); never re-serialise
//     it, the signature covers its exact bytes.
//  2. [Verify] with the account's public key, the [TimestampHeader] and
//     [SignatureHeader] values and the current time; refuse with 403 on error.
//  3. [ParseEvent]; a [*FieldError] is a 400. Dedupe on [Event.ID].
//  4. Store, then answer 2xx within 2 seconds, or Telnyx retries.
//
// API keys are never logged or put into errors by this package.
package telnyx
