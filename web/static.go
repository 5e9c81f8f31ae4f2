package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static returns the files to serve under /static/ (style.css, ...), rooted so that
// "style.css" is the stylesheet: serve it with
// http.StripPrefix("/static/", http.FileServerFS(web.Static())).
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// Unreachable: "static" is a valid path and embedded at compile time.
		panic(err)
	}
	return sub
}
