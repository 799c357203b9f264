package fakecarrier_test

import (
	"context"
	"errors"
	"fmt"

	"directsms/gateway/twilio"
	"directsms/internal/fakecarrier"
)

func Example() {
	fake := fakecarrier.New()
	fake.AddTwilioAccount("AC0123456789abcdef0123456789abcdef", "token", "+14155550100")
	srv, err := fake.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	client := &twilio.Client{BaseURL: srv.URL()}
	acct := twilio.Account{SID: "AC0123456789abcdef0123456789abcdef", AuthToken: "token"}
	msg := twilio.SendRequest{From: "+14155550100", To: "+13125550188", Body: "Your claim is open."}

	// The recipient replied STOP: Twilio refuses with 21610 once.
	fake.FailNextFor(fakecarrier.Twilio, 1, 400, twilio.CodeUnsubscribed)
	_, err = client.Send(context.Background(), acct, msg)
	var sendErr *twilio.SendError
	if errors.As(err, &sendErr) {
		fmt.Println("opted out:", sendErr.OptedOut(), "retry:", sendErr.Retryable())
	}

	if _, err := client.Send(context.Background(), acct, msg); err != nil {
		panic(err)
	}
	sent := fake.Sent()
	fmt.Println(fake.SentCount(), sent[0].To, sent[0].Body)
	// Output:
	// opted out: true retry: false
	// 1 +13125550188 Your claim is open.
}
