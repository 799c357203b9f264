package gateway

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
)

// openapiFiles is the API reference, kept in the repository beside the handlers as one file
// per resource area (00_base.json holds info and shared components); they are merged into one
// document at start. A test fails when the document and the router disagree.
//
//go:embed openapi/*.json
var openapiFiles embed.FS

// openapiDoc is the merged document, built once.
var openapiDoc = mustMergeOpenAPI()

func mustMergeOpenAPI() []byte {
	doc, err := mergeOpenAPI(openapiFiles)
	if err != nil {
		panic(err)
	}
	return doc
}

// mergeOpenAPI merges the area files: paths and component maps are unioned; the same path or
// component in two files is an error, so no area silently overwrites another.
func mergeOpenAPI(fsys fs.FS) ([]byte, error) {
	names, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	doc := map[string]any{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var part map[string]any
		if err := json.Unmarshal(b, &part); err != nil {
			return nil, fmt.Errorf("openapi %s: %w", name, err)
		}
		for key, val := range part {
			switch key {
			case "paths":
				if err := mergeMap(doc, key, val, name); err != nil {
					return nil, err
				}
			case "components":
				comps, _ := doc["components"].(map[string]any)
				if comps == nil {
					comps = map[string]any{}
					doc["components"] = comps
				}
				parts, _ := val.(map[string]any)
				for kind, v := range parts {
					if err := mergeMap(comps, kind, v, name); err != nil {
						return nil, err
					}
				}
			default:
				if _, dup := doc[key]; dup {
					return nil, fmt.Errorf("openapi %s: %q is set in another file", name, key)
				}
				doc[key] = val
			}
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

func mergeMap(into map[string]any, key string, val any, file string) error {
	dst, _ := into[key].(map[string]any)
	if dst == nil {
		dst = map[string]any{}
		into[key] = dst
	}
	src, ok := val.(map[string]any)
	if !ok {
		return fmt.Errorf("openapi %s: %q must be an object", file, key)
	}
	for k, v := range src {
		if _, dup := dst[k]; dup {
			return fmt.Errorf("openapi %s: %s %q is defined in another file", file, key, k)
		}
		dst[k] = v
	}
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiDoc) //nolint:errcheck // the client may have gone
}
