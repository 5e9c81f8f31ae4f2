package web

import (
	"io/fs"
	"strings"
	"testing"
)

func TestStatic(t *testing.T) {
	css, err := fs.ReadFile(Static(), "style.css")
	if err != nil {
		t.Fatalf("style.css: %v", err)
	}
	if len(css) == 0 {
		t.Fatal("style.css is empty")
	}
	// The pages' Content-Security-Policy only allows our own origin.
	for _, bad := range []string{"@import", "http:", "https:", "url("} {
		if strings.Contains(string(css), bad) {
			t.Errorf("style.css contains %q: it must not load anything", bad)
		}
	}
}
