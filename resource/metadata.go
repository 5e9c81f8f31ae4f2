package resource

import (
	"net/http"
	"net/url"
	"strconv"
)

// wellKnownMetadata is the well-known URI suffix of RFC 9728 §3.
const wellKnownMetadata = "/.well-known/oauth-protected-resource"

// protectedResourceMetadata is the RFC 9728 §2 document.
type protectedResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
}

// metadataURL inserts the well-known suffix between host and path (RFC 9728 §3.1); a path of
// just "/" is dropped, as §3.1 asks of the slash that follows the host.
func metadataURL(res *url.URL) string {
	u := url.URL{Scheme: res.Scheme, Host: res.Host, Path: wellKnownMetadata + resourcePath(res)}
	return u.String()
}

func resourcePath(res *url.URL) string {
	if res.Path == "/" {
		return ""
	}
	return res.Path
}

// MetadataURL is the absolute URL of this resource's Protected Resource Metadata, the value
// of resource_metadata in every challenge (RFC 9728 §5.1). For the resource
// https://mcp.example.com/mcp it is
// https://mcp.example.com/.well-known/oauth-protected-resource/mcp.
func (v *Verifier) MetadataURL() string { return v.metadataURL }

// MetadataPaths returns the paths to serve [Verifier.MetadataHandler] at: the path-suffixed
// form of RFC 9728 §3.1, which MCP clients try first, then the bare well-known path they fall
// back to. The second is the host's only one, so leave it out if several resources share a
// host. A resource without a path has just the bare one.
func (v *Verifier) MetadataPaths() []string {
	if p := resourcePath(v.resource); p != "" {
		return []string{wellKnownMetadata + p, wellKnownMetadata}
	}
	return []string{wellKnownMetadata}
}

// MetadataHandler serves the Protected Resource Metadata document (RFC 9728 §2, §3.2): the
// resource, its authorization servers, its scopes, and that tokens go in the Authorization
// header only. Browser-based MCP clients read it across origins, so it allows any origin;
// it is public by definition.
func (v *Verifier) MetadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "*")
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Content-Length", strconv.Itoa(len(v.metadata)))
		w.Write(v.metadata)
	})
}
