package token

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Payloads are written without reflection, exactly as json.Marshal writes
// them, and read back by a small scanner that recognises only that form.

// accessPayload is the fixed part of an access token's payload.
type accessPayload struct {
	Issuer    string           `json:"iss,omitempty"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud,omitempty"`
	ExpiresAt int64            `json:"exp"`
	IssuedAt  int64            `json:"iat"`
	ID        string           `json:"jti"`
	SessionID string           `json:"sid"`
}

// refreshPayload is a refresh token's payload as minted. Audience is the
// codec's [Config.Audience]: a refresh token is only redeemed by an
// issuer configured for the audience it was issued for.
type refreshPayload struct {
	Issuer     string           `json:"iss,omitempty"`
	Subject    string           `json:"sub"`
	Audience   jwt.ClaimStrings `json:"aud,omitempty"`
	ExpiresAt  int64            `json:"exp"`
	IssuedAt   int64            `json:"iat"`
	ID         string           `json:"jti"`
	SessionID  string           `json:"sid"`
	Generation uint64           `json:"gen"`
	ClientID   string           `json:"client_id,omitempty"` // the OAuth client the session was issued to
}

// appendWithExtra appends p with the already-encoded extra claims (a
// JSON object, or nil) spliced in after its own members.
func (p *accessPayload) appendWithExtra(b, extra []byte) []byte {
	b = p.appendJSON(b)
	if len(extra) > 2 { // splice {"a":1} into {...,"a":1}
		b = append(b[:len(b)-1], ',')
		b = append(b, extra[1:]...)
	}
	return b
}

// appendJSON appends p exactly as json.Marshal encodes it (fields in
// order, omitempty honoured), without reflection.
func (p *accessPayload) appendJSON(b []byte) []byte {
	b = appendRegistered(b, p.Issuer, p.Subject, p.Audience, p.ExpiresAt, p.IssuedAt, p.ID, p.SessionID)
	return append(b, '}')
}

// appendRegistered opens the object and appends the members both payloads
// share, in json.Marshal's order: iss (omitted when empty), sub, aud
// (omitted when empty), exp, iat, jti, sid.
func appendRegistered(b []byte, iss, sub string, aud jwt.ClaimStrings, exp, iat int64, jti, sid string) []byte {
	b = append(b, '{')
	if iss != "" {
		b = append(b, `"iss":`...)
		b = AppendJSONString(b, iss)
		b = append(b, ',')
	}
	b = append(b, `"sub":`...)
	b = AppendJSONString(b, sub)
	if len(aud) > 0 {
		b = append(b, `,"aud":`...)
		b = appendAudience(b, aud)
	}
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `,"jti":`...)
	b = AppendJSONString(b, jti)
	b = append(b, `,"sid":`...)
	return AppendJSONString(b, sid)
}

// appendJSON appends p exactly as json.Marshal encodes it.
func (p *refreshPayload) appendJSON(b []byte) []byte {
	b = appendRegistered(b, p.Issuer, p.Subject, p.Audience, p.ExpiresAt, p.IssuedAt, p.ID, p.SessionID)
	b = append(b, `,"gen":`...)
	b = strconv.AppendUint(b, p.Generation, 10)
	if p.ClientID != "" {
		b = append(b, `,"client_id":`...)
		b = AppendJSONString(b, p.ClientID)
	}
	return append(b, '}')
}

// appendAudience appends aud as jwt.ClaimStrings marshals it.
func appendAudience(b []byte, aud jwt.ClaimStrings) []byte {
	if len(aud) == 1 && !jwt.MarshalSingleStringAsArray {
		return AppendJSONString(b, aud[0])
	}
	b = append(b, '[')
	for i, a := range aud {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, a)
	}
	return append(b, ']')
}

// AppendJSONString appends s as json.Marshal encodes it. Printable ASCII
// that needs no escaping (subjects, ids, URLs) is copied; anything else is
// left to encoding/json, so the output is always json.Marshal's.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// EncodeExtra validates and encodes extra access-token claims: none may
// be named (or fold to) one of [ReservedClaims].
func (c *Codec) EncodeExtra(extra map[string]any) ([]byte, error) {
	if len(extra) == 0 {
		return nil, nil
	}
	for name := range extra {
		if isReserved(name) {
			return nil, fmt.Errorf("%w: %q", c.errs.ReservedClaim, name)
		}
	}
	b, err := json.Marshal(extra)
	if err != nil {
		return nil, fmt.Errorf("rtr: encoding extra claims: %w", err)
	}
	return b, nil
}

func isReserved(name string) bool {
	_, ok := FoldsToReserved(name)
	return ok
}

// plainString returns the content of a JSON string of printable ASCII
// without escapes, which decodes to itself.
func plainString(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	s := v[1 : len(v)-1]
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", false
		}
	}
	return s, true
}

// plainStrings decodes aud as jwt.ClaimStrings does, for a plain string or
// a non-empty array of plain strings without whitespace.
func plainStrings(v string) (jwt.ClaimStrings, bool) {
	if s, ok := plainString(v); ok {
		return jwt.ClaimStrings{s}, true
	}
	if len(v) < 4 || v[0] != '[' || v[len(v)-1] != ']' {
		return nil, false
	}
	items := v[1 : len(v)-1]
	out := make(jwt.ClaimStrings, 0, strings.Count(items, ",")+1)
	for items != "" {
		item, rest, more := strings.Cut(items, ",")
		s, ok := plainString(item)
		if !ok || (more && rest == "") {
			return nil, false
		}
		out = append(out, s)
		items = rest
	}
	return out, true
}

// plainUint parses a JSON integer of at most maxDigits digits without
// sign, fraction, exponent or leading zeros.
func plainUint(v string, maxDigits int) (uint64, bool) {
	if v == "" || len(v) > maxDigits || (v[0] == '0' && len(v) > 1) {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}

// plainDate decodes a NumericDate as golang-jwt does (float64 seconds),
// for integers small enough to be exact as a float64.
func plainDate(v string, d *jwt.NumericDate) (*jwt.NumericDate, bool) {
	n, ok := plainUint(v, 15) // < 2^53
	if !ok {
		return nil, false
	}
	*d = jwt.NumericDate{Time: time.Unix(int64(n), 0).Truncate(jwt.TimePrecision)}
	return d, true
}

// scanObject walks the JSON object p, written the way json.Marshal writes
// one (no whitespace outside member values, member names of printable
// ASCII without escapes), and calls member with each name and raw value.
// Every value is checked to be valid JSON. It returns false for anything
// else, or when member does.
func scanObject(p string, member func(name, value string) bool) bool {
	if len(p) < 2 || p[0] != '{' || p[len(p)-1] != '}' {
		return false
	}
	if len(p) == 2 {
		return true
	}
	for i := 1; ; {
		if p[i] != '"' {
			return false
		}
		j := i + 1
		for j < len(p) && p[j] != '"' {
			if c := p[j]; c < 0x20 || c > 0x7e || c == '\\' {
				return false
			}
			j++
		}
		if j+2 >= len(p) || p[j+1] != ':' {
			return false
		}
		end := skipValue(p, j+2, 0)
		if end < 0 || end >= len(p) || !member(p[i+1:j], p[j+2:end]) {
			return false
		}
		switch {
		case end == len(p)-1:
			return true
		case p[end] == ',':
			i = end + 1
		default:
			return false
		}
	}
}

// skipValue returns the index just past the JSON value starting at p[i],
// or -1 if there is none or it is not valid JSON (as encoding/json's
// scanner defines it; nesting is limited to maxNesting).
func skipValue(p string, i, depth int) int {
	if i >= len(p) {
		return -1
	}
	switch c := p[i]; {
	case c == '"':
		return skipString(p, i)
	case c == '-' || ('0' <= c && c <= '9'):
		return skipNumber(p, i)
	case c == 't':
		return skipLiteral(p, i, "true")
	case c == 'f':
		return skipLiteral(p, i, "false")
	case c == 'n':
		return skipLiteral(p, i, "null")
	case c == '[' || c == '{':
		if depth >= maxNesting {
			return -1
		}
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		i = skipSpace(p, i+1)
		if i < len(p) && p[i] == closer {
			return i + 1
		}
		for {
			if c == '{' {
				if i >= len(p) || p[i] != '"' {
					return -1
				}
				if i = skipString(p, i); i < 0 {
					return -1
				}
				if i = skipSpace(p, i); i >= len(p) || p[i] != ':' {
					return -1
				}
				i = skipSpace(p, i+1)
			}
			if i = skipValue(p, i, depth+1); i < 0 {
				return -1
			}
			if i = skipSpace(p, i); i >= len(p) {
				return -1
			}
			if p[i] == closer {
				return i + 1
			}
			if p[i] != ',' {
				return -1
			}
			i = skipSpace(p, i+1)
		}
	}
	return -1
}

const maxNesting = 32

func skipSpace(p string, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

func skipLiteral(p string, i int, lit string) int {
	if strings.HasPrefix(p[i:], lit) {
		return i + len(lit)
	}
	return -1
}

// skipString skips the string starting at the quote p[i].
func skipString(p string, i int) int {
	for i++; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(p) {
				return -1
			}
			switch p[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(p) {
					return -1
				}
				for _, h := range []byte(p[i+1 : i+5]) {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// skipNumber skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(p string, i int) int {
	digits := func(i int) int {
		j := i
		for j < len(p) && '0' <= p[j] && p[j] <= '9' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
	if p[i] == '-' {
		i++
	}
	switch {
	case i < len(p) && p[i] == '0':
		i++
	case i < len(p) && '1' <= p[i] && p[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(p) && p[i] == '.' {
		if i = digits(i + 1); i < 0 {
			return -1
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		if i = digits(i); i < 0 {
			return -1
		}
	}
	return i
}
