package rtr

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// JWT "typ" header values. Both are checked on every parse, so an access
// token is never accepted as a refresh token or the reverse (RFC 8725 §3.11,
// RFC 9068 §2.1).
const (
	AccessTokenType  = "at+jwt"
	RefreshTokenType = "rt+jwt"
)

const signingAlg = "HS256"

// keySet holds the keys derived from one secret.
type keySet struct {
	kid                      string
	access, refresh          []byte
	accessHeader, refreshHdr string // precomputed base64url header segments

	accessMAC, refreshMAC *macPool // keyed HMAC states, reused
}

// deriveKeys derives independent access and refresh keys from secret with
// HMAC-SHA256 under distinct labels (domain separation), and a key id that
// names the secret without revealing it.
func deriveKeys(secret []byte) keySet {
	label := func(l string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(l))
		return m.Sum(nil)
	}
	ks := keySet{
		kid:     base64.RawURLEncoding.EncodeToString(label("rtr/v1 key id")[:9]),
		access:  label("rtr/v1 access token key"),
		refresh: label("rtr/v1 refresh token key"),
	}
	ks.accessHeader = headerSegment(ks.kid, AccessTokenType)
	ks.refreshHdr = headerSegment(ks.kid, RefreshTokenType)
	ks.accessMAC = &macPool{key: ks.access}
	ks.refreshMAC = &macPool{key: ks.refresh}
	return ks
}

// macPool reuses HMAC-SHA256 states of one key. hmac.New hashes the padded
// key on every call and allocates; a state taken from the pool starts from
// the precomputed pads (crypto/hmac keeps them after the first Reset).
type macPool struct {
	key  []byte
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
	b64 [43]byte // base64url of sum
}

func (p *macPool) get() *macState {
	if st, ok := p.pool.Get().(*macState); ok {
		return st
	}
	return &macState{h: hmac.New(sha256.New, p.key)}
}

func (p *macPool) put(st *macState) {
	st.h.Reset()
	p.pool.Put(st)
}

// mac returns the base64url HMAC of msg. The result lives in st.
func (st *macState) mac(msg []byte) []byte {
	st.h.Write(msg)
	base64.RawURLEncoding.Encode(st.b64[:], st.h.Sum(st.sum[:0]))
	return st.b64[:]
}

func headerSegment(kid, typ string) string {
	b, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{signingAlg, kid, typ})
	return base64.RawURLEncoding.EncodeToString(b)
}

// keyRing is the current key set and the previous ones accepted on verify.
type keyRing struct {
	current  keySet
	accepted []keySet // current first
}

func newKeyRing(secret []byte, previous [][]byte) keyRing {
	kr := keyRing{current: deriveKeys(secret)}
	kr.accepted = append(kr.accepted, kr.current)
	for _, p := range previous {
		kr.accepted = append(kr.accepted, deriveKeys(p))
	}
	return kr
}

// lookup returns the key set named by a token header's kid.
func (kr *keyRing) lookup(header map[string]any) (*keySet, error) {
	kid, _ := header["kid"].(string)
	for i := range kr.accepted {
		if kr.accepted[i].kid == kid {
			return &kr.accepted[i], nil
		}
	}
	return nil, errors.New("unknown key id")
}

// checkHeader enforces the header rules shared by both token kinds: the
// pinned algorithm, the expected typ, and no "crit" extensions (RFC 7515
// §4.1.11: we understand none, so a token that requires one is refused).
func checkHeader(t *jwt.Token, typ string) error {
	if t.Method != jwt.SigningMethodHS256 {
		return errors.New("unexpected signing method")
	}
	return checkTypeAndCrit(t, typ)
}

// checkTypeAndCrit is checkHeader without the algorithm, which the key
// pins for asymmetric tokens.
func checkTypeAndCrit(t *jwt.Token, typ string) error {
	if got, _ := t.Header["typ"].(string); got != typ {
		return errors.New("unexpected token type")
	}
	if _, ok := t.Header["crit"]; ok {
		return errors.New("unsupported critical header")
	}
	return nil
}

// parserOptions are the options shared by the access and refresh parsers.
func parserOptions(cfg *Config) []jwt.ParserOption {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{signingAlg}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	return opts
}

// sigOnlyParser checks a token's signature, alg and header but none of
// its claims; callers bound the claims themselves (checkSignatureOnly).
func sigOnlyParser() *jwt.Parser {
	return jwt.NewParser(jwt.WithValidMethods([]string{signingAlg}), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
}

// mapParseError turns a golang-jwt error into rtr's sentinels. Expiry is
// reported only for tokens whose signature verified (golang-jwt checks the
// signature before the claims).
func mapParseError(err error) error {
	if errors.Is(err, jwt.ErrTokenExpired) {
		return fmt.Errorf("%w: %w", ErrTokenExpired, err)
	}
	return fmt.Errorf("%w: %w", ErrInvalidToken, err)
}

// sign returns header.payload.signature for a JSON payload.
func sign(header string, payload []byte, mp *macPool) string {
	n := len(header) + 1 + base64.RawURLEncoding.EncodedLen(len(payload))
	buf := make([]byte, 0, n+1+43)
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, payload)
	st := mp.get()
	sig := st.mac(buf)
	buf = append(buf, '.')
	buf = append(buf, sig...)
	mp.put(st)
	return unsafe.String(unsafe.SliceData(buf), len(buf)) // buf is never written again
}

// refreshClaims is the payload of a refresh token.
type refreshClaims struct {
	jwt.RegisteredClaims
	SessionID  string `json:"sid"`
	Generation uint64 `json:"gen"`
}

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
// issuer's [Config.Audience]: a refresh token is only redeemed by an
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
}

// mintAccess signs an access token. extra holds the already-encoded extra
// claims as a JSON object (or nil).
func (kr *keyRing) mintAccess(p accessPayload, extra []byte) (string, error) {
	var buf [512]byte
	b := p.appendJSON(buf[:0])
	if len(extra) > 2 { // splice {"a":1} into {...,"a":1}
		b = append(b[:len(b)-1], ',')
		b = append(b, extra[1:]...)
	}
	return sign(kr.current.accessHeader, b, kr.current.accessMAC), nil
}

// mintRefresh signs a refresh token for the current generation of rec. The
// result depends only on rec, so re-signing the same generation (a grace
// retry) yields the same token.
func (kr *keyRing) mintRefresh(issuer string, aud jwt.ClaimStrings, rec *SessionRecord) (string, error) {
	p := refreshPayload{
		Issuer:     issuer,
		Subject:    rec.Subject,
		Audience:   aud,
		ExpiresAt:  rec.ExpiresAt().Unix(),
		IssuedAt:   rec.RotatedAt.Unix(),
		ID:         rec.Current,
		SessionID:  rec.ID,
		Generation: rec.Generation,
	}
	var buf [512]byte
	return sign(kr.current.refreshHdr, p.appendJSON(buf[:0]), kr.current.refreshMAC), nil
}

// appendJSON appends p exactly as json.Marshal encodes it (fields in
// order, omitempty honoured), without reflection.
func (p *accessPayload) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if p.Issuer != "" {
		b = append(b, `"iss":`...)
		b = appendJSONString(b, p.Issuer)
		b = append(b, ',')
	}
	b = append(b, `"sub":`...)
	b = appendJSONString(b, p.Subject)
	if len(p.Audience) > 0 {
		b = append(b, `,"aud":`...)
		b = appendAudience(b, p.Audience)
	}
	b = appendDatesAndIDs(b, p.ExpiresAt, p.IssuedAt, p.ID, p.SessionID)
	return append(b, '}')
}

// appendDatesAndIDs appends the members both payloads share after "sub"
// (and "aud"), in json.Marshal's order.
func appendDatesAndIDs(b []byte, exp, iat int64, jti, sid string) []byte {
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, jti)
	b = append(b, `,"sid":`...)
	return appendJSONString(b, sid)
}

// appendJSON appends p exactly as json.Marshal encodes it.
func (p *refreshPayload) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if p.Issuer != "" {
		b = append(b, `"iss":`...)
		b = appendJSONString(b, p.Issuer)
		b = append(b, ',')
	}
	b = append(b, `"sub":`...)
	b = appendJSONString(b, p.Subject)
	if len(p.Audience) > 0 {
		b = append(b, `,"aud":`...)
		b = appendAudience(b, p.Audience)
	}
	b = appendDatesAndIDs(b, p.ExpiresAt, p.IssuedAt, p.ID, p.SessionID)
	b = append(b, `,"gen":`...)
	b = strconv.AppendUint(b, p.Generation, 10)
	return append(b, '}')
}

// appendAudience appends aud as jwt.ClaimStrings marshals it.
func appendAudience(b []byte, aud jwt.ClaimStrings) []byte {
	if len(aud) == 1 && !jwt.MarshalSingleStringAsArray {
		return appendJSONString(b, aud[0])
	}
	b = append(b, '[')
	for i, a := range aud {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, a)
	}
	return append(b, ']')
}

// appendJSONString appends s as json.Marshal encodes it. Printable ASCII
// that needs no escaping (subjects, ids, URLs) is copied; anything else is
// left to encoding/json, so the output is always json.Marshal's.
func appendJSONString(b []byte, s string) []byte {
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

// encodeExtra validates and encodes extra access-token claims.
func encodeExtra(extra map[string]any) ([]byte, error) {
	if len(extra) == 0 {
		return nil, nil
	}
	for name := range extra {
		if isReservedClaim(name) {
			return nil, fmt.Errorf("%w: %q", ErrReservedClaim, name)
		}
	}
	b, err := json.Marshal(extra)
	if err != nil {
		return nil, fmt.Errorf("rtr: encoding extra claims: %w", err)
	}
	return b, nil
}

// newID returns 128 random bits, base64url encoded (22 characters).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// unixTime truncates t to whole seconds, the resolution of JWT dates.
func unixTime(t time.Time) time.Time { return time.Unix(t.Unix(), 0) }

// tooLarge reports whether a token is over the size limit; it is checked
// before any parsing.
func tooLarge(token string) bool { return len(token) > MaxTokenLen }

// payloadSegment returns the base64url payload segment of a compact JWS.
func payloadSegment(token string) string {
	_, rest, _ := strings.Cut(token, ".")
	p, _, _ := strings.Cut(rest, ".")
	return p
}

// The fast path for tokens in the exact form rtr mints them.
//
// golang-jwt parses any well-formed JWS: it decodes the header into a map,
// the payload with reflection, and hashes the padded key again for every
// token. Tokens rtr signed itself have one known header per key set and a
// payload written by appendJSON, so they can be checked with a byte
// comparison, one pooled HMAC and a small scanner. Only the recognition is
// fast: anything not in that form, down to a non-canonical base64 padding
// bit or a space in the JSON, returns "not recognised" and the caller
// takes the golang-jwt path, which gives the answer. Recognised claims are
// validated by the very golang-jwt Validator the parser would use. So the
// fast path accepts exactly the tokens golang-jwt accepts, with the same
// claims and the same errors (tokens_bench_test.go checks this, and
// fuzzes it).

// verifyMinted checks that token is header.payload.signature with header
// the access (or refresh) header segment of an accepted key set, byte for
// byte, and signature the canonical base64url HMAC under that set's key.
// It returns the payload segment. The first key set with the header wins,
// as in keyRing.lookup.
func (kr *keyRing) verifyMinted(token string, refresh bool) (string, bool) {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || len(sig) != 43 {
		return "", false
	}
	var mp *macPool
	for i := range kr.accepted {
		ks := &kr.accepted[i]
		if refresh && h == ks.refreshHdr {
			mp = ks.refreshMAC
			break
		}
		if !refresh && h == ks.accessHeader {
			mp = ks.accessMAC
			break
		}
	}
	if mp == nil {
		return "", false
	}
	st := mp.get()
	want := st.mac(bytesOf(token[:len(h)+1+len(payload)]))
	var diff byte // constant time
	for i := range want {
		diff |= want[i] ^ sig[i]
	}
	mp.put(st)
	return payload, diff == 0
}

// bytesOf returns the bytes of s without copying; they must not be
// modified (hashes and decoders only read their input).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// maxFastPayload bounds the payloads the fast path decodes on the stack;
// longer ones (large extra claims) take the general path.
const maxFastPayload = 1536

// decodeSegment decodes a base64url segment as golang-jwt does with
// strict decoding, and refuses the line breaks that decoders skip: only
// the canonical spelling decodes (see canonicalSegment).
func decodeSegment(seg string) (string, bool) {
	var buf [maxFastPayload]byte
	// Two IndexByte scans (vectorised) cost a fraction of one ContainsAny
	// (a byte-by-byte loop over the segment).
	if base64.RawURLEncoding.DecodedLen(len(seg)) > len(buf) || strings.IndexByte(seg, '\n') >= 0 || strings.IndexByte(seg, '\r') >= 0 {
		return "", false
	}
	n, err := canonicalB64.Decode(buf[:], bytesOf(seg))
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

// mintedRefresh holds refresh claims and their dates in one allocation.
type mintedRefresh struct {
	claims   refreshClaims
	exp, iat jwt.NumericDate
}

// memberSet records which payload members were seen, so that a member
// given twice is refused.
type memberSet uint8

// mark records bit and reports whether the member is acceptable: well
// formed (ok) and not seen before.
func (s *memberSet) mark(bit uint8, ok bool) bool {
	if !ok || uint8(*s)&bit != 0 {
		return false
	}
	*s |= memberSet(bit)
	return true
}

// sharedMember decodes a member both token kinds carry (iss, sub, jti,
// sid, exp, iat) into rc, sid and the dates. known reports whether k is
// one of them; bit is its place in a memberSet and ok whether its value
// is in rtr's form.
func sharedMember(k, v string, rc *jwt.RegisteredClaims, sid *string, exp, iat *jwt.NumericDate) (bit uint8, ok, known bool) {
	switch k {
	case "iss":
		rc.Issuer, ok = plainString(v)
		return 1 << 0, ok, true
	case "sub":
		rc.Subject, ok = plainString(v)
		return 1 << 1, ok, true
	case "jti":
		rc.ID, ok = plainString(v)
		return 1 << 2, ok, true
	case "sid":
		*sid, ok = plainString(v)
		return 1 << 3, ok, true
	case "exp":
		rc.ExpiresAt, ok = plainDate(v, exp)
		return 1 << 4, ok, true
	case "iat":
		rc.IssuedAt, ok = plainDate(v, iat)
		return 1 << 5, ok, true
	}
	return 0, false, false
}

// decode fills m from a refresh payload in rtr's form: the members iss,
// sub, aud, exp, iat, jti, sid, gen, each at most once, strings of
// printable ASCII without escapes (aud a string or a non-empty array of
// them), dates and gen plain integers.
func (m *mintedRefresh) decode(p string) bool {
	var seen memberSet
	return scanObject(p, func(k, v string) bool {
		if bit, ok, known := sharedMember(k, v, &m.claims.RegisteredClaims, &m.claims.SessionID, &m.exp, &m.iat); known {
			return seen.mark(bit, ok)
		}
		var ok bool
		switch k {
		case "gen":
			m.claims.Generation, ok = plainUint(v, 20)
			return seen.mark(1<<6, ok)
		case "aud":
			m.claims.Audience, ok = plainStrings(v)
			return seen.mark(1<<7, ok)
		}
		return false
	})
}

// mintedAccess holds access claims and their dates in one allocation.
type mintedAccess struct {
	claims   Claims
	exp, iat jwt.NumericDate
}

// accessFields are the JSON names of Claims' fields, all of them reserved
// claims. A payload member whose name matches one of them only after case
// folding would be decoded into it by encoding/json, so the fast path
// leaves such payloads alone.
var accessFields = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"}

// decode fills m from an access payload in rtr's form: iss, sub, aud, exp,
// iat, jti, sid at most once each, as in decode above (aud a string or a
// non-empty array of them); other members (extra claims) must be valid
// JSON and are left for Claims.Get to decode.
func (m *mintedAccess) decode(p string) bool {
	var seen memberSet
	var clientID bool
	return scanObject(p, func(k, v string) bool {
		if k == "client_id" {
			// rtr's own RFC 9068 claim, kept with the extra claims; at
			// most once, like every reserved name.
			ok := !clientID
			clientID = true
			return ok
		}
		if bit, ok, known := sharedMember(k, v, &m.claims.RegisteredClaims, &m.claims.SessionID, &m.exp, &m.iat); known {
			return seen.mark(bit, ok)
		}
		if k == "aud" {
			var ok bool
			m.claims.Audience, ok = plainStrings(v)
			return seen.mark(1<<6, ok)
		}
		// A name that folds to a reserved one (other than "gen", which
		// access tokens do not use) would be decoded by encoding/json into
		// a verified field, or is one rtr never writes: the general path,
		// which refuses such payloads (checkMembers), gives the answer.
		_, reserved := foldsToReserved(k)
		return !reserved
	})
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
