package telnyx

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers Telnyx signs webhooks with.
const (
	SignatureHeader = "telnyx-signature-ed25519"
	TimestampHeader = "telnyx-timestamp"
)

// MaxClockSkew is how far a webhook's timestamp may be from now, either way,
// before it is refused as a replay.
const MaxClockSkew = 5 * time.Minute

// Errors returned by Verify; gateways answer all of them with 403.
var (
	ErrMissingSignature = errors.New("telnyx: missing signature or timestamp")
	ErrBadSignature     = errors.New("telnyx: bad signature")
	ErrStaleTimestamp   = errors.New("telnyx: timestamp too far from now")
	ErrBadPublicKey     = errors.New("telnyx: public key is not 32 bytes of base64")
)

// ParsePublicKey decodes the account's public key as the Telnyx portal shows
// it: 32 bytes in base64.
func ParsePublicKey(b64 string) (ed25519.PublicKey, error) {
	key, err := decodeBase64(strings.TrimSpace(b64))
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, ErrBadPublicKey
	}
	return ed25519.PublicKey(key), nil
}

// Verify checks a webhook: sigB64 must be a base64 Ed25519 signature by
// publicKey over timestamp + "|" + body, and timestamp (Unix seconds) must be
// within [MaxClockSkew] of now, so a captured request cannot be replayed
// later. body must be the raw request bytes.
//
// The error is ErrMissingSignature, ErrStaleTimestamp, ErrBadPublicKey or
// wraps ErrBadSignature.
func Verify(publicKey ed25519.PublicKey, timestamp string, body []byte, sigB64 string, now time.Time) error {
	if timestamp == "" || sigB64 == "" {
		return ErrMissingSignature
	}
	if len(publicKey) != ed25519.PublicKeySize {
		return ErrBadPublicKey
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadSignature, timestamp)
	}
	// Compare in seconds: converting a hostile timestamp to time.Time and
	// subtracting could overflow.
	nowSecs, skew := now.Unix(), int64(MaxClockSkew/time.Second)
	if secs < nowSecs-skew || secs > nowSecs+skew {
		return ErrStaleTimestamp
	}
	sig, err := decodeBase64(sigB64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is not 64 bytes of base64", ErrBadSignature)
	}
	msg := make([]byte, 0, len(timestamp)+1+len(body))
	msg = append(append(append(msg, timestamp...), '|'), body...)
	if !ed25519.Verify(publicKey, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// decodeBase64 accepts padded and unpadded standard base64; Telnyx pads, but
// a key pasted without its padding is still the same key.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	return b, err
}
