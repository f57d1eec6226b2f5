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
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	return opts
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

// refreshPayload is a refresh token's payload as minted.
type refreshPayload struct {
	Issuer     string `json:"iss,omitempty"`
	Subject    string `json:"sub"`
	ExpiresAt  int64  `json:"exp"`
	IssuedAt   int64  `json:"iat"`
	ID         string `json:"jti"`
	SessionID  string `json:"sid"`
	Generation uint64 `json:"gen"`
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
func (kr *keyRing) mintRefresh(issuer string, rec *SessionRecord) (string, error) {
	p := refreshPayload{
		Issuer:     issuer,
		Subject:    rec.Subject,
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
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, p.ExpiresAt, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, p.IssuedAt, 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, p.ID)
	b = append(b, `,"sid":`...)
	b = appendJSONString(b, p.SessionID)
	return append(b, '}')
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
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, p.ExpiresAt, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, p.IssuedAt, 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, p.ID)
	b = append(b, `,"sid":`...)
	b = appendJSONString(b, p.SessionID)
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
