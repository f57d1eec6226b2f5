package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"hash"
	"strings"
	"sync"
	"unsafe"
)

// KeySet holds the keys derived from one secret (HS256).
type KeySet struct {
	Kid                         string
	Access, Refresh             []byte
	AccessHeader, RefreshHeader string // precomputed base64url header segments

	accessMAC, refreshMAC *macPool // keyed HMAC states, reused
}

// DeriveKeys derives independent access and refresh keys from secret with
// HMAC-SHA256 under distinct labels (domain separation), and a key id that
// names the secret without revealing it.
func DeriveKeys(secret []byte) KeySet {
	label := func(l string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(l))
		return m.Sum(nil)
	}
	ks := KeySet{
		Kid:     base64.RawURLEncoding.EncodeToString(label("rtr/v1 key id")[:9]),
		Access:  label("rtr/v1 access token key"),
		Refresh: label("rtr/v1 refresh token key"),
	}
	ks.AccessHeader = headerSegment(ks.Kid, AccessType)
	ks.RefreshHeader = headerSegment(ks.Kid, RefreshType)
	ks.accessMAC = &macPool{key: ks.Access}
	ks.refreshMAC = &macPool{key: ks.Refresh}
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
	current  KeySet
	accepted []KeySet // current first
}

func newKeyRing(secret []byte, previous [][]byte) keyRing {
	kr := keyRing{current: DeriveKeys(secret)}
	kr.accepted = append(kr.accepted, kr.current)
	for _, p := range previous {
		kr.accepted = append(kr.accepted, DeriveKeys(p))
	}
	return kr
}

// lookup returns the key set named by a token header's kid.
func (kr *keyRing) lookup(header map[string]any) (*KeySet, error) {
	kid, _ := header["kid"].(string)
	for i := range kr.accepted {
		if kr.accepted[i].Kid == kid {
			return &kr.accepted[i], nil
		}
	}
	return nil, ErrUnknownKey
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

// mintAccess signs an access token. extra holds the already-encoded extra
// claims as a JSON object (or nil).
func (kr *keyRing) mintAccess(p accessPayload, extra []byte) string {
	var buf [512]byte
	return sign(kr.current.AccessHeader, p.appendWithExtra(buf[:0], extra), kr.current.accessMAC)
}

// mintRefresh signs a refresh token.
func (kr *keyRing) mintRefresh(p refreshPayload) string {
	var buf [512]byte
	return sign(kr.current.RefreshHeader, p.appendJSON(buf[:0]), kr.current.refreshMAC)
}

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
		if refresh && h == ks.RefreshHeader {
			mp = ks.refreshMAC
			break
		}
		if !refresh && h == ks.AccessHeader {
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
