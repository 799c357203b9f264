package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"directsms/gateway/twilio"
	"directsms/internal/fakecarrier"
)

// runFakeText posts one inbound text to a running directsms exactly as Twilio would (a signed
// form webhook), so the demo's inbound routing can be tried from a terminal. The account
// defaults to the demo's fake Twilio account.
func runFakeText(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fake-text", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://localhost:8080", "the server's PUBLIC_URL, which the text is posted to and signed over")
	sid := fs.String("account-sid", demoTwilioSID, "the Twilio account the text comes through")
	token := fs.String("auth-token", demoTwilioToken, "that account's auth token, which signs the webhook")
	from := fs.String("from", "", "the sender, e.g. +12025550199 (required)")
	to := fs.String("to", "", "the tenant's number that was texted, e.g. +12025550101 (required)")
	body := fs.String("body", "", "the text (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || *body == "" {
		return errors.New("fake-text: --from, --to and --body are required")
	}
	endpoint := strings.TrimRight(*base, "/") + "/webhooks/twilio/messages"
	form, sig := fakecarrier.TwilioInbound(*sid, *token, endpoint, *from, *to, *body)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("fake-text: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, sig)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fake-text: post to %s: %w", endpoint, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("fake-text: %s answered %d: %s", endpoint, res.StatusCode, strings.TrimSpace(string(answer)))
	}
	fmt.Fprintf(stdout, "delivered %s to %s: %s\n", form.Get("MessageSid"), endpoint, strings.TrimSpace(string(answer)))
	return nil
}
