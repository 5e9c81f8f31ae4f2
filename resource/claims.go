package resource

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// accessTokenClaims are the claims of an RFC 9068 JWT access token. Numeric dates are float64
// because RFC 7519 §2 allows fractions; zero means absent.
type accessTokenClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      audience `json:"aud"`
	Exp      float64  `json:"exp"`
	Iat      float64  `json:"iat"`
	Nbf      float64  `json:"nbf"`
	Jti      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
}

// audience is the aud claim: a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	s := claimScanner{b: b}
	if aud, ok := s.audience(); ok && s.i == len(b) {
		*a = aud
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*a = audience{str}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*a = list
	return nil
}

// decodeClaims fills c from the JWT payload, exactly as json.Unmarshal would.
//
// The tokens our authorization server issues are flat objects of plain strings and numbers,
// which a direct scan decodes in a fraction of the time encoding/json's validation pass and
// reflection take; for a token seen once, that time is a visible part of the budget next to
// the signature check. Anything the scan does not handle (escapes, nested values, keys that
// match ours only without regard to case, values of the wrong type) goes to encoding/json, so
// the result is always encoding/json's. FuzzDecodeClaims holds the two to that.
func decodeClaims(payload []byte, c *accessTokenClaims) error {
	if decodeFlatClaims(payload, c) {
		return nil
	}
	*c = accessTokenClaims{}
	return json.Unmarshal(payload, c)
}

// decodeFlatClaims reports whether it decoded payload; when it returns false, c is garbage.
func decodeFlatClaims(payload []byte, c *accessTokenClaims) bool {
	s := claimScanner{b: payload}
	s.space()
	if !s.consume('{') {
		return false
	}
	s.space()
	if s.consume('}') {
		s.space()
		return s.i == len(s.b)
	}
	for {
		s.space()
		key, ok := s.plainString()
		if !ok {
			return false
		}
		s.space()
		if !s.consume(':') {
			return false
		}
		s.space()
		switch key {
		case "iss":
			c.Iss, ok = s.plainString()
		case "sub":
			c.Sub, ok = s.plainString()
		case "jti":
			c.Jti, ok = s.plainString()
		case "client_id":
			c.ClientID, ok = s.plainString()
		case "scope":
			c.Scope, ok = s.plainString()
		case "exp":
			c.Exp, ok = s.number()
		case "iat":
			c.Iat, ok = s.number()
		case "nbf":
			c.Nbf, ok = s.number()
		case "aud":
			c.Aud, ok = s.audience()
		default:
			// encoding/json would match "ISS" to iss; leave such keys to it.
			ok = !foldsToClaim(key) && s.skipScalar()
		}
		if !ok {
			return false
		}
		s.space()
		if s.consume(',') {
			continue
		}
		if !s.consume('}') {
			return false
		}
		s.space()
		return s.i == len(s.b)
	}
}

func foldsToClaim(key string) bool {
	for _, name := range [...]string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"} {
		if strings.EqualFold(key, name) {
			return true
		}
	}
	return false
}

type claimScanner struct {
	b []byte
	i int
}

func (s *claimScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *claimScanner) consume(ch byte) bool {
	if s.i < len(s.b) && s.b[s.i] == ch {
		s.i++
		return true
	}
	return false
}

// plainString reads a string without escapes, control characters, or invalid UTF-8 (which
// encoding/json would rewrite to U+FFFD), or any non-ASCII when it is a key.
func (s *claimScanner) plainString() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	end := bytes.IndexByte(s.b[start:], '"')
	if end < 0 {
		return "", false
	}
	str := s.b[start : start+end]
	ascii := true
	for _, ch := range str {
		if ch < 0x20 || ch == '\\' {
			return "", false
		}
		if ch >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(str) {
		return "", false
	}
	s.i = start + end + 1
	if !ascii && s.isKey() {
		return "", false // a key encoding/json might fold to one of ours
	}
	return string(str), true
}

// isKey reports whether the string just read is followed by a colon.
func (s *claimScanner) isKey() bool {
	j := s.i
	for j < len(s.b) && (s.b[j] == ' ' || s.b[j] == '\t' || s.b[j] == '\n' || s.b[j] == '\r') {
		j++
	}
	return j < len(s.b) && s.b[j] == ':'
}

// number reads a JSON number (RFC 8259 §6) that fits a float64.
func (s *claimScanner) number() (float64, bool) {
	start := s.i
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return 0, false
	}
	if s.consume('.') && !s.digits() {
		return 0, false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if !s.digits() {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	return f, err == nil
}

// digits reads one or more decimal digits.
func (s *claimScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// audience reads aud: a string or an array of strings.
func (s *claimScanner) audience() (audience, bool) {
	if s.i < len(s.b) && s.b[s.i] == '"' {
		str, ok := s.plainString()
		return audience{str}, ok
	}
	if !s.consume('[') {
		return nil, false
	}
	aud := audience{}
	s.space()
	if s.consume(']') {
		return aud, true
	}
	for {
		s.space()
		str, ok := s.plainString()
		if !ok {
			return nil, false
		}
		aud = append(aud, str)
		s.space()
		if s.consume(']') {
			return aud, true
		}
		if !s.consume(',') {
			return nil, false
		}
	}
}

// skipScalar passes over a string, number, true, false or null.
func (s *claimScanner) skipScalar() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.plainString()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	_, ok := s.number()
	return ok
}

func (s *claimScanner) literal(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}
