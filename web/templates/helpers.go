package templates

import "strings"

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// joinList joins names for a compact "already granted" line.
func joinList(names []string) string {
	return strings.Join(names, ", ")
}
