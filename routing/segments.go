package routing

// Encoding is the character encoding a carrier will use for a body.
type Encoding string

// The two encodings an SMS body can travel in. Carriers choose GSM-7 when
// every character allows it, and UCS-2 otherwise, for the whole message.
const (
	EncodingGSM7 Encoding = "GSM-7"
	EncodingUCS2 Encoding = "UCS-2"
)

// MaxSegments is the most segments an outbound body may cost. Longer bodies
// are refused before sending: carriers bill per segment and reassembly of
// very long concatenated messages is unreliable on handsets.
const MaxSegments = 10

// Segment capacities. A multi-part message loses room in every part to the
// concatenation header (6 octets: 7 septets in GSM-7, 3 code units in UCS-2).
const (
	gsm7Single = 160
	gsm7Multi  = 153
	ucs2Single = 70
	ucs2Multi  = 67
)

// gsmBasic is the GSM 03.38 default alphabet in code order (0x00 to 0x7F),
// without the escape at 0x1B. Position 0x09 is the capital Ç, as in the ETSI
// table and in carriers' segment calculators; the small ç is not in GSM-7 and
// forces UCS-2. Note also that 0x24 is ¤ (the dollar sign is at 0x02) and that
// the backtick is absent.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ" +
	" !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§" +
	"¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension holds the characters of the GSM 03.38 extension table that
// carriers send: each is an escape followed by a code, so it costs two septets.
const gsmExtension = "\f^{}\\[~]|€"

// gsmSeptets maps each GSM-7 character to the septets it costs.
var gsmSeptets = func() map[rune]int {
	m := make(map[rune]int, len(gsmBasic)+len(gsmExtension))
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// CountSegments reports how many SMS segments body costs and the encoding a
// carrier will use for it. GSM-7 is used when every character is in the GSM
// 03.38 default alphabet or its extension table (extension characters cost
// two septets); a body of at most 160 septets is one segment, a longer one is
// split into segments of 153. Otherwise the body goes as UCS-2, counted in
// UTF-16 code units (two for a character outside the Basic Multilingual
// Plane, such as most emoji): at most 70 units is one segment, else 67 per
// segment. A character is never split across segments, so an extension
// character or a surrogate pair that does not fit in what is left of a
// segment starts the next one. An empty body costs no segments.
//
// Invalid UTF-8 bytes count as U+FFFD, which forces UCS-2: the count is then
// for the replacement text a carrier would send.
func CountSegments(body string) (segments int, enc Encoding) {
	if body == "" {
		return 0, EncodingGSM7
	}
	for _, r := range body {
		if gsmSeptets[r] == 0 {
			return pack(body, ucs2Single, ucs2Multi, utf16Units), EncodingUCS2
		}
	}
	return pack(body, gsm7Single, gsm7Multi, func(r rune) int { return gsmSeptets[r] }), EncodingGSM7
}

// utf16Units is the number of UTF-16 code units r takes in UCS-2 as carriers
// send it: characters outside the Basic Multilingual Plane are surrogate pairs.
func utf16Units(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}

// pack counts the segments body fills when each character costs cost(r)
// units: one segment if the whole body fits in single units, otherwise
// greedily filled segments of multi units in which no character is split.
func pack(body string, single, multi int, cost func(rune) int) int {
	total := 0
	for _, r := range body {
		total += cost(r)
	}
	if total <= single {
		return 1
	}
	segments, used := 1, 0
	for _, r := range body {
		c := cost(r)
		if used+c > multi {
			segments++
			used = 0
		}
		used += c
	}
	return segments
}
