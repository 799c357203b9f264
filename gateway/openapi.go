package gateway

import (
	_ "embed"
	"net/http"
)

// openapiJSON is the API reference, kept in the repository beside the router; a test fails when
// the two disagree.
//
//go:embed openapi.json
var openapiJSON []byte

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiJSON) //nolint:errcheck // the client may have gone
}
