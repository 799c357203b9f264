// Package twilio speaks Twilio's messaging wire formats: it checks the
// X-Twilio-Signature on webhooks, decodes inbound texts and status callbacks,
// and sends texts and looks up owned numbers through Twilio's REST API.
//
// It knows Twilio and nothing of directsms: it must not import routing stores,
// cmd, or any other directsms package. Callers normalize the numbers it
// returns, decide what a message means, and decide whether to retry a failed
// send by asking the error ([SendError.Retryable]).
//
// Webhook handling, in order:
//
//  1. Read the form (bounded by http.MaxBytesReader) and the AccountSid in it.
//  2. [ValidSignature] with that account's auth token and the public URL
//     Twilio requested; refuse with 403 when it fails.
//  3. [ParseInbound] or [ParseStatus]; a [*FieldError] is a 400.
//  4. Store, then answer 200 with [ResponseXML] and Content-Type text/xml.
//
// Secrets (auth tokens) are never logged or put into errors by this package.
package twilio
