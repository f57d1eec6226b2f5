// Package baseline holds what rtr's benchmarks measure it against, in the
// same run and on the same data: what an application writes with
// golang-jwt alone, the refresh flow of the write-ups rtr comes from, and
// the floor of one Redis round trip. Only the benchmarks use it; it is no
// part of rtr's API.
package baseline

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
)

// Lifetimes of the baseline tokens, rtr's defaults.
const (
	AccessTTL  = 15 * time.Minute
	RefreshTTL = 14 * 24 * time.Hour
)

// DeriveKey is rtr's key derivation (HMAC-SHA256 of a label under the
// secret), so that a bare-parse baseline verifies the very same token with
// the very same key.
func DeriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// PlainJWT is what an application writes with golang-jwt alone: the same
// claims as rtr's tokens, signed with SignedString and parsed with a parser
// built once.
type PlainJWT struct {
	issuer                string
	audience              []string
	accessKey, refreshKey []byte
	parser                *jwt.Parser
	keyFn                 jwt.Keyfunc
}

// AccessClaims are the claims of a baseline access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// RefreshClaims are the claims of a baseline refresh token.
type RefreshClaims struct {
	jwt.RegisteredClaims
	SessionID  string `json:"sid"`
	Generation uint64 `json:"gen"`
}

// NewPlainJWT returns a PlainJWT with keys derived from secret.
func NewPlainJWT(secret []byte, issuer string, audience []string) *PlainJWT {
	p := &PlainJWT{
		issuer:     issuer,
		audience:   audience,
		accessKey:  DeriveKey(secret, "plain access"),
		refreshKey: DeriveKey(secret, "plain refresh"),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"HS256"}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(issuer),
		),
	}
	p.keyFn = func(*jwt.Token) (any, error) { return p.refreshKey, nil }
	return p
}

// Mint signs an access and a refresh token (two SignedString calls).
func (p *PlainJWT) Mint(subject, sid string, gen uint64) (access, refresh string, err error) {
	now := time.Now()
	access, err = jwt.NewWithClaims(jwt.SigningMethodHS256, AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    p.issuer,
			Subject:   subject,
			Audience:  p.audience,
			ExpiresAt: jwt.NewNumericDate(now.Add(AccessTTL)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        ID(),
		},
		SessionID: sid,
	}).SignedString(p.accessKey)
	if err != nil {
		return "", "", err
	}
	refresh, err = jwt.NewWithClaims(jwt.SigningMethodHS256, RefreshClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    p.issuer,
			Subject:   subject,
			ExpiresAt: jwt.NewNumericDate(now.Add(RefreshTTL)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        ID(),
		},
		SessionID:  sid,
		Generation: gen,
	}).SignedString(p.refreshKey)
	return access, refresh, err
}

// ParseRefresh verifies a baseline refresh token.
func (p *PlainJWT) ParseRefresh(token string) (*RefreshClaims, error) {
	c := &RefreshClaims{}
	if _, err := p.parser.ParseWithClaims(token, c, p.keyFn); err != nil {
		return nil, err
	}
	return c, nil
}

// SignTwoParseOne is the pure-CPU floor of a refresh: parse the presented
// refresh token, sign a new access and refresh token.
func (p *PlainJWT) SignTwoParseOne(token string) (access, refresh string, err error) {
	c, err := p.ParseRefresh(token)
	if err != nil {
		return "", "", err
	}
	return p.Mint(c.Subject, c.SessionID, c.Generation+1)
}

// ID returns a random 128-bit id, base64url, as rtr's are.
func ID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TrivialScript is the floor of one Redis round trip: EVALSHA of a script
// that does nothing.
var TrivialScript = redis.NewScript(`return 1`)

// Writeups is the flow of the write-ups rtr comes from, in Go: one Redis key
// per user, refresh:<user id> -> the refresh token itself; a refresh
// verifies the JWT, GETs the stored token, compares, DELs it, signs a new
// pair, SETs the new refresh token and EXPIREs it: four separate commands,
// four round trips, not atomic.
type Writeups struct {
	c      redis.UniversalClient
	prefix string
	jwt    *PlainJWT
}

// ErrMismatch is the write-ups' answer to a token that is not the stored
// one.
var ErrMismatch = errors.New("not the stored refresh token")

// NewWriteups returns the write-ups' flow on c, under prefix.
func NewWriteups(c redis.UniversalClient, prefix string, p *PlainJWT) *Writeups {
	return &Writeups{c: c, prefix: prefix + "refresh:", jwt: p}
}

// Login stores a new refresh token for userID and returns it.
func (w *Writeups) Login(ctx context.Context, userID string) (string, error) {
	_, rt, err := w.jwt.Mint(userID, "", 1)
	if err != nil {
		return "", err
	}
	key := w.prefix + userID
	if err := w.c.Set(ctx, key, rt, 0).Err(); err != nil {
		return "", err
	}
	return rt, w.c.Expire(ctx, key, RefreshTTL).Err()
}

// Refresh exchanges token for a new pair, the write-ups' way.
func (w *Writeups) Refresh(ctx context.Context, token string) (access, refresh string, err error) {
	claims, err := w.jwt.ParseRefresh(token)
	if err != nil {
		return "", "", err
	}
	key := w.prefix + claims.Subject
	stored, err := w.c.Get(ctx, key).Result()
	if err != nil {
		return "", "", err
	}
	if stored != token {
		w.c.Del(ctx, key)
		return "", "", ErrMismatch
	}
	if err := w.c.Del(ctx, key).Err(); err != nil {
		return "", "", err
	}
	at, rt, err := w.jwt.Mint(claims.Subject, "", claims.Generation+1)
	if err != nil {
		return "", "", err
	}
	if err := w.c.Set(ctx, key, rt, 0).Err(); err != nil {
		return "", "", err
	}
	if err := w.c.Expire(ctx, key, RefreshTTL).Err(); err != nil {
		return "", "", err
	}
	return at, rt, nil
}
