package twilio_test

import (
	"fmt"
	"net/url"

	"directsms/gateway/twilio"
)

func ExampleSignature() {
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675309"},
		"Digits":  {"1234"},
		"From":    {"+14158675309"},
		"To":      {"+18005551212"},
	}
	fmt.Println(twilio.Signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params))
	// Output: RSOYDt4T1cUTdK1PDd93/VVr8B8=
}

func ExampleValidSignature() {
	form, _ := url.ParseQuery("MessageSid=SM0123456789abcdef0123456789abcdef&Body=Hi")
	// Twilio signed the URL with the default port; the configured public URL
	// has none. Both forms are accepted.
	sig := twilio.Signature("token", "https://sms.example.com:443/webhooks/twilio/messages", form)
	fmt.Println(twilio.ValidSignature("token", "https://sms.example.com/webhooks/twilio/messages", form, sig))
	fmt.Println(twilio.ValidSignature("other", "https://sms.example.com/webhooks/twilio/messages", form, sig))
	// Output:
	// true
	// false
}
