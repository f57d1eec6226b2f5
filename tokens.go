package rtr

import (
	"crypto/rand"
	"encoding/base64"
	"time"
	"unsafe"
)

// JWT "typ" header values. Both are checked on every parse, so an access
// token is never accepted as a refresh token or the reverse (RFC 8725 §3.11,
// RFC 9068 §2.1).
const (
	AccessTokenType  = "at+jwt"
	RefreshTokenType = "rt+jwt"
)

// newID returns 128 random bits, base64url encoded (22 characters).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// unixTime truncates t to whole seconds, the resolution of JWT dates.
func unixTime(t time.Time) time.Time { return time.Unix(t.Unix(), 0) }

// bytesOf returns the bytes of s without copying; they must not be
// modified (hashes and decoders only read their input).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
