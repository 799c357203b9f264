package directory

// NormalizePersonalNumber exposes the private number rule to the tests.
var NormalizePersonalNumber = normalizePersonalNumber
