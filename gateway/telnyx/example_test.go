package telnyx_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"directsms/gateway/telnyx"
)

func ExampleVerify() {
	// The account's key pair; Telnyx holds the private half.
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	pub, err := telnyx.ParsePublicKey(base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)))
	if err != nil {
		panic(err)
	}

	body := []byte(`{"data":{"event_type":"message.received","id":"b301ed3f","payload":{"id":"84cca175","from":{"phone_number":"+13125550188"},"to":[{"phone_number":"+14155550100"}],"text":"Hi"}}}`)
	sent := time.Date(2026, 1, 15, 14, 30, 0, 0, time.UTC)
	ts := strconv.FormatInt(sent.Unix(), 10)
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, append([]byte(ts+"|"), body...)))

	fmt.Println(telnyx.Verify(pub, ts, body, sig, sent.Add(time.Minute)))
	fmt.Println(telnyx.Verify(pub, ts, body, sig, sent.Add(10*time.Minute)))

	ev, err := telnyx.ParseEvent(body)
	fmt.Println(ev.EventType, ev.Message.From, ev.Message.To, ev.Message.Text, err)
	// Output:
	// <nil>
	// telnyx: timestamp too far from now
	// message.received +13125550188 +14155550100 Hi <nil>
}
