// Package routing decides what happens to each text: sessions, offers to
// agents, queue fan-out, rerouting, consent and outbound sending. It may import
// numbers, deflection and directory; never gateway or cmd.
//
// The pure rules that every text passes through live here too:
// ClassifyKeyword recognises the opt-out, opt-in and help keywords carriers
// require us to honour, and CountSegments predicts how many SMS segments a
// body costs so that oversized outbound texts are refused before they reach a
// carrier.
package routing
