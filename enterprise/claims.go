package enterprise

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"
)

// TypeIDJAG is the JOSE typ of an ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant §3.1).
const TypeIDJAG = "oauth-id-jag+jwt"

// typeOK reports whether a typ header names an ID-JAG. RFC 7515 §4.1.9: typ is a media type, so
// it compares case-insensitively (RFC 2045 §5.1), and a value without "/" stands for
// "application/" followed by it.
func typeOK(typ string) bool {
	typ, _ = strings.CutPrefix(strings.ToLower(typ), "application/")
	return typ == TypeIDJAG
}

// claims are the ID-JAG claims we read (§3.1). Unknown claims are ignored.
type claims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  stringOrList `json:"aud"`
	ClientID  string       `json:"client_id"`
	ID        string       `json:"jti"`
	Expiry    *numericDate `json:"exp"`
	IssuedAt  *numericDate `json:"iat"`
	NotBefore *numericDate `json:"nbf"`
	Resource  stringOrList `json:"resource"`
	Scope     string       `json:"scope"`
	Tenant    string       `json:"tenant"`
	Email     string       `json:"email"`
	Name      string       `json:"name"`
}

// Bounds on claims we keep or store; far above what an IdP sends.
const (
	maxIDLength    = 512 // jti, sub, tenant
	maxListLength  = 16  // entries in aud or resource
	maxEmailLength = 320 // RFC 5321 §4.5.3.1: 64 + 1 + 255
	maxNameLength  = 256
)

// numericDate is a JWT NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional.
// Values outside years 1970–9999 are refused, so that converting one can never overflow.
type numericDate float64

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("a NumericDate must be a number")
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return errors.New("a NumericDate is out of range")
	}
	*d = numericDate(f)
	return nil
}

func (d numericDate) Time() time.Time {
	sec, frac := math.Modf(float64(d))
	return time.Unix(int64(sec), int64(frac*1e9))
}

// stringOrList is a claim that is a string or an array of strings (aud: RFC 7519 §4.1.3;
// resource: the draft's §3.1). An array is bounded.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = stringOrList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a string or an array of strings")
	}
	if len(many) > maxListLength {
		return errors.New("array too long")
	}
	*s = many
	return nil
}
