package token

// Equivalence tests for the fast token paths (see BENCHMARKS.md): the
// reflection-free minting must write exactly what
// json.Marshal writes, and the fast path for tokens rtr minted
// (parseMintedAccess, parseMintedRefresh) must answer exactly as golang-jwt
// does — same acceptance, same claims, same errors — for every token it
// recognises. Genuine tokens must be recognised, or the fast path would
// quietly stop paying.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/stretchr/testify/require"
)

func TestMintMatchesJSONMarshal(t *testing.T) {
	strs := []string{"", "alice", "user-123456", "https://auth.example.com", "a<b>&c", `q"b\s`, "tab\there", "ü", "\u2028", "\xff\xfe", "ctl\x01", "/slash"}
	for _, single := range []bool{true, false} {
		saved := jwt.MarshalSingleStringAsArray
		jwt.MarshalSingleStringAsArray = single
		for i, s := range strs {
			other := strs[(i+3)%len(strs)]
			for _, aud := range []jwt.ClaimStrings{nil, {}, {s}, {s, other}} {
				ap := accessPayload{Issuer: other, Subject: s, Audience: aud, ExpiresAt: 1732380000 + int64(i), IssuedAt: -5, ID: other, SessionID: s}
				want, err := json.Marshal(ap)
				require.NoError(t, err)
				require.Equal(t, string(want), string(ap.appendJSON(nil)))
			}
			rp := refreshPayload{Issuer: s, Subject: other, ExpiresAt: 1 << 40, IssuedAt: 0, ID: s, SessionID: other, Generation: 1<<64 - 1}
			want, err := json.Marshal(rp)
			require.NoError(t, err)
			require.Equal(t, string(want), string(rp.appendJSON(nil)))
		}
		jwt.MarshalSingleStringAsArray = saved
	}
}

// TestFastPathKnowsEveryClaimsField fails when a field is added to Refresh
// without teaching the fast path about it (rtr's own test covers its
// Claims and AccessFields).
func TestFastPathKnowsEveryClaimsField(t *testing.T) {
	names := testkit.JSONNames
	require.ElementsMatch(t, AccessFields[:], names(reflect.TypeOf(testClaims{})))
	require.ElementsMatch(t, []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "gen", "client_id"}, names(reflect.TypeOf(Refresh{})))
}

var (
	internalSecret = []byte("internal-test-secret-0123456789abcdef")
	olderSecret    = []byte("an-older-secret-an-older-secret-an-older")
)

// The lifetimes rtr mints with by default.
const (
	accessTTL  = 15 * time.Minute
	refreshTTL = 14 * 24 * time.Hour
	maxAge     = 90 * 24 * time.Hour
)

// testClaims is an AccessClaims as rtr's Claims is: the registered claims,
// the session id and the two dates in one struct.
type testClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	exp, iat  jwt.NumericDate
}

func (c *testClaims) Fields() (*jwt.RegisteredClaims, *string, *jwt.NumericDate, *jwt.NumericDate) {
	return &c.RegisteredClaims, &c.SessionID, &c.exp, &c.iat
}

type fastCase struct {
	c     *Codec
	clock *testkit.Clock
	extra []byte // encoded extra claims
	n     int
}

// testConfig is the codec an issuer with these settings builds.
func testConfig(issuer string, aud []string, leeway time.Duration, now func() time.Time) Config {
	return Config{
		Secret: internalSecret, PreviousSecrets: [][]byte{olderSecret},
		Issuer: issuer, Audience: aud, Leeway: leeway, Now: now,
		MaxAge: maxAge, MaxLen: 8 << 10, MaxSubjectLen: 256,
	}
}

// fastIssuers returns codecs for every combination of the settings the
// fast path reads (issuer, audience, extra claims, leeway): the fuzz
// target's set. The unit test takes fastIssuersPairwise.
func fastIssuers(t testing.TB) []*fastCase {
	var out []*fastCase
	for _, issuer := range fastIssuerNames {
		for _, aud := range fastAudiences {
			for _, extra := range fastExtras {
				for _, leeway := range fastLeeways {
					out = append(out, newFastCase(t, issuer, aud, extra, leeway))
				}
			}
		}
	}
	return out
}

var (
	fastIssuerNames = []string{"", "https://auth.example.com"}
	fastAudiences   = [][]string{nil, {"api"}, {"api", "https://other.example.com"}}
	fastExtras      = []map[string]any{nil, {"roles": []string{"admin", "x"}, "n": 1.5, "o": map[string]any{"k": nil}, "u": "ü<"}}
	fastLeeways     = []time.Duration{0, 5 * time.Second}
)

// fastIssuersPairwise covers every pair of values of any two settings
// (an orthogonal array: 6 codecs instead of the 24 of the full product),
// so that every setting meets every other one at least once.
func fastIssuersPairwise(t testing.TB) []*fastCase {
	var out []*fastCase
	for _, c := range [][4]int{
		// issuer, audience, extra, leeway
		{0, 0, 0, 0}, {1, 0, 1, 1}, {0, 1, 1, 0}, {1, 1, 0, 1}, {0, 2, 0, 1}, {1, 2, 1, 0},
	} {
		out = append(out, newFastCase(t, fastIssuerNames[c[0]], fastAudiences[c[1]], fastExtras[c[2]], fastLeeways[c[3]]))
	}
	return out
}

func newFastCase(t testing.TB, issuer string, aud []string, extra map[string]any, leeway time.Duration) *fastCase {
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	c, err := New(testConfig(issuer, aud, leeway, clock.Now))
	require.NoError(t, err)
	enc, err := c.EncodeExtra(extra)
	require.NoError(t, err)
	return &fastCase{c: c, clock: clock, extra: enc}
}

// issue mints a pair as a login does: a new session, generation 1.
func (fc *fastCase) issue(t testing.TB, subject string) (access, refresh string) {
	fc.n++
	now := fc.clock.Now()
	sid, jti := fmt.Sprintf("session-%014d", fc.n), fmt.Sprintf("refresh-%014d", fc.n)
	access, err := fc.c.MintAccess(NewAccess{Subject: subject, SessionID: sid, ID: fmt.Sprintf("access-%015d", fc.n), IssuedAt: now, ExpiresAt: now.Add(accessTTL)}, fc.extra)
	require.NoError(t, err)
	var client string
	if fc.n%2 == 0 {
		client = "web-app" // refresh tokens of sessions issued to a named client carry it
	}
	refresh = fc.c.MintRefresh(NewRefresh{Subject: subject, SessionID: sid, ID: jti, Generation: 1, IssuedAt: now, ExpiresAt: now.Add(refreshTTL), ClientID: client})
	return access, refresh
}

// compareAccess checks the fast path against golang-jwt for one token; it
// reports whether the fast path recognised the token.
func compareAccess(t testing.TB, c *Codec, token string) bool {
	fast := new(testClaims)
	recognised, fastErr := c.parseMintedAccess(token, fast)
	slow := new(testClaims)
	_, slowErr := c.accessParser.ParseWithClaims(token, slow, c.accessKeyFunc(context.Background()))
	if slowErr != nil {
		slowErr = c.mapParseError(slowErr)
	}
	if !recognised {
		return false
	}
	if fastErr != nil || slowErr != nil {
		require.Error(t, fastErr, "fast path refused nothing, golang-jwt: %v", slowErr)
		require.Error(t, slowErr, "golang-jwt refused nothing, fast path: %v", fastErr)
		require.Equal(t, slowErr.Error(), fastErr.Error())
		for _, target := range []error{c.errs.Invalid, c.errs.Expired, jwt.ErrTokenExpired, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenNotValidYet, jwt.ErrTokenInvalidClaims} {
			require.Equal(t, errors.Is(slowErr, target), errors.Is(fastErr, target), "errors.Is(%v)", target)
		}
		return true
	}
	require.Equal(t, slow.RegisteredClaims, fast.RegisteredClaims)
	require.Equal(t, slow.SessionID, fast.SessionID)
	return true
}

func compareRefresh(t testing.TB, c *Codec, token string, checkExpiry bool) bool {
	fast, recognised, fastErr := c.parseMintedRefresh(token, checkExpiry)
	slow, slowErr := c.parseRefreshJWT(token, checkExpiry)
	if !recognised {
		return false
	}
	if fastErr != nil || slowErr != nil {
		require.Error(t, fastErr, "fast path refused nothing, golang-jwt: %v", slowErr)
		require.Error(t, slowErr, "golang-jwt refused nothing, fast path: %v", fastErr)
		require.Equal(t, slowErr.Error(), fastErr.Error())
		for _, target := range []error{c.errs.Invalid, c.errs.Expired, jwt.ErrTokenExpired, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenNotValidYet} {
			require.Equal(t, errors.Is(slowErr, target), errors.Is(fastErr, target), "errors.Is(%v)", target)
		}
		return true
	}
	require.Equal(t, slow, fast)
	return true
}

// resign signs payload with the header and key rtr would use.
func resign(header string, key []byte, payload string) string {
	s := header + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return s + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// hostilePayloads are payloads signed with the right key that stray from
// what rtr writes in every way the fast path has to notice.
func hostilePayloads(genuine string) []string {
	out := []string{
		"{}", "", "[]", "null", `{"sub":"a"}`, `{"sub":"a",}`, `{"sub":"a"`, `{"sub":"a"}}`, `{"sub":"a"} `, ` {"sub":"a"}`,
		`{"sub" :"a"}`, `{"sub": "a"}`, `{"sub":"a" ,"sid":"s"}`, `{"sub":"a","sub":"b"}`, `{"SUB":"a"}`, `{"Sid":"s"}`, `{"ſub":"a"}`,
		`{"sub":"\u0061"}`, `{"sub":"a\"b"}`, `{"sub":"ü"}`, "{\"sub\":\"\xff\"}", `{"sub":1}`, `{"sub":null}`, `{"sub":true}`,
		`{"exp":1.5}`, `{"exp":1e9}`, `{"exp":-1}`, `{"exp":"1"}`, `{"exp":01}`, `{"exp":99999999999999999}`, `{"exp":null}`,
		`{"gen":18446744073709551616}`, `{"gen":-1}`, `{"gen":0}`, `{"nbf":1}`, `{"aud":[]}`, `{"aud":["a",]}`, `{"aud":["a",1]}`, `{"aud":"api"}`,
		`{"aud":["api"]}`, `{"aud":["a,b"]}`, `{"aud":[ "api"]}`, `{"x":[1,{"y":[true,false,null,"\u00e9\n"]}],"sub":"a"}`, `{"x":[1,2`, `{"x":"\u12"}`,
		`{"x":{"a" : 1 , "b":[ ]}}`, `{"x":-0.5e-3}`, `{"x":1.}`, `{"x":.5}`, `{"x":tru}`, `{"x":"` + strings.Repeat("a", 2000) + `"}`,
		`{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, `{"x":` + strings.Repeat("[", 10) + strings.Repeat("]", 10) + `}`,
	}
	var m map[string]any
	if json.Unmarshal([]byte(genuine), &m) == nil {
		for k := range m {
			edited := map[string]any{}
			for k2, v := range m {
				if k2 != k {
					edited[k2] = v
				}
			}
			b, _ := json.Marshal(edited) // without k
			out = append(out, string(b))
			for _, v := range []any{nil, "", 0, 1.25, "x", []string{"api"}, 1 << 60, map[string]any{}} {
				edited[k] = v
				b, _ = json.Marshal(edited)
				out = append(out, string(b))
			}
			edited[k] = m[k]
			edited[strings.ToUpper(k)] = m[k]
			b, _ = json.Marshal(edited)
			out = append(out, string(b))
		}
		out = append(out, strings.Replace(genuine, ",", ", ", 1), strings.Replace(genuine, `"`, `"\u0020`, 1), genuine+"\n", strings.Replace(genuine, "}", `,"nbf":1}`, 1))
	}
	return out
}

// TestFastPathMatchesGolangJWT compares the fast path with golang-jwt on a
// corpus chosen to touch every branch once (pairwise settings, a plain
// subject and two that need escapes, every expiry boundary, a sample of
// tampered bytes, every hostile payload on the plain subject); the deep
// search is FuzzFastPathMatchesGolangJWT's, which CI runs with -fuzztime.
func TestFastPathMatchesGolangJWT(t *testing.T) {
	recognised := 0
	for _, fc := range fastIssuersPairwise(t) {
		c := fc.c
		for si, subject := range []string{"alice", `q"b\s`, "ü"} {
			var p struct{ AccessToken, RefreshToken string }
			p.AccessToken, p.RefreshToken = fc.issue(t, subject)
			plain := !strings.ContainsAny(subject, `"\<>&ü`) // the fast path leaves escapes to golang-jwt
			for _, at := range []time.Duration{0, time.Minute, accessTTL - time.Second, accessTTL, accessTTL + 3*time.Second, accessTTL + time.Hour, 30 * 24 * time.Hour, -time.Hour} {
				fc.clock.Set(time.Unix(1_800_000_000, 0).Add(at))
				ok := compareAccess(t, c, p.AccessToken)
				require.Equal(t, plain, ok, "genuine access token recognised (%q)", subject)
				for _, check := range []bool{true, false} {
					ok = compareRefresh(t, c, p.RefreshToken, check)
					require.Equal(t, plain, ok, "genuine refresh token recognised (%q)", subject)
				}
			}
			fc.clock.Set(time.Unix(1_800_000_000, 0))

			// Tampered tokens: a byte in every segment and every 17th,
			// the last one, and the signature's padding bits.
			for _, tok := range []string{p.AccessToken, p.RefreshToken} {
				dot1 := strings.IndexByte(tok, '.')
				dot2 := dot1 + 1 + strings.IndexByte(tok[dot1+1:], '.')
				for i := 0; i < len(tok); i++ {
					if i%17 != 0 && i != dot1 && i != dot1+1 && i != dot2 && i != dot2+1 && i != len(tok)-1 {
						continue
					}
					b := []byte(tok)
					b[i] ^= 1
					compareAccess(t, c, string(b))
					compareRefresh(t, c, string(b), true)
				}
				nonCanonical := []byte(tok)
				nonCanonical[len(tok)-1] = map[byte]byte{'A': 'B', 'Q': 'R', 'g': 'h', 'w': 'x'}[tok[len(tok)-1]]
				compareAccess(t, c, string(nonCanonical))
				compareRefresh(t, c, string(nonCanonical), true)
			}
			if si > 0 {
				continue // the hostile payloads once per codec: on the plain subject
			}

			// Hostile payloads with a valid signature, for both token kinds
			// and the current and previous key sets.
			for _, ks := range c.ring.accepted {
				for kind, tok := range map[string]string{"access": p.AccessToken, "refresh": p.RefreshToken} {
					raw := testkit.RawPayload(t, tok)
					for _, payload := range hostilePayloads(string(raw)) {
						if kind == "access" {
							compareAccess(t, c, resign(ks.AccessHeader, ks.Access, payload))
							compareAccess(t, c, resign(ks.RefreshHeader, ks.Access, payload))
						} else {
							compareRefresh(t, c, resign(ks.RefreshHeader, ks.Refresh, payload), true)
							compareRefresh(t, c, resign(ks.RefreshHeader, ks.Refresh, payload), false)
							compareRefresh(t, c, resign(ks.AccessHeader, ks.Refresh, payload), true)
						}
						recognised++
					}
				}
			}
		}
	}
	require.Positive(t, recognised)
}

// FuzzFastPathMatchesGolangJWT signs arbitrary payloads with the right
// key and header and checks that both parsers agree.
func FuzzFastPathMatchesGolangJWT(f *testing.F) {
	fcs := fastIssuers(f)
	access, refresh := fcs[len(fcs)-1].issue(f, "alice")
	for _, tok := range []string{access, refresh} {
		raw := testkit.RawPayload(f, tok)
		for _, payload := range hostilePayloads(string(raw)) {
			f.Add(payload, uint8(0))
		}
	}
	f.Fuzz(func(t *testing.T, payload string, which uint8) {
		fc := fcs[int(which)%len(fcs)]
		ks := fc.c.ring.current
		compareAccess(t, fc.c, resign(ks.AccessHeader, ks.Access, payload))
		compareRefresh(t, fc.c, resign(ks.RefreshHeader, ks.Refresh, payload), true)
		compareRefresh(t, fc.c, resign(ks.RefreshHeader, ks.Refresh, payload), false)
	})
}

func TestSkipValueMatchesJSONValid(t *testing.T) {
	for _, s := range []string{
		`1`, `-1`, `-`, `01`, `1.`, `1.0e`, `1e+5`, `"a"`, `"\q"`, `"\u00zz"`, `"\u00e9"`, "\"\x01\"", `[]`, `[ ]`, `[1,]`, `[,1]`, `{}`, `{"a":1,}`,
		`{"a" : [ 1 , 2 ] }`, `{1:2}`, `true`, `tru`, `nul`, `[[[]]]`, `{"a":{"b":{"c":null}}}`, "[\n1\t]", `"abc`, `[1 2]`,
	} {
		end := skipValue(s, 0, 0)
		require.Equal(t, json.Valid([]byte(s)), end == len(s), fmt.Sprintf("%q", s))
	}
}

func TestMintRefreshWithAudienceMatchesJSONMarshal(t *testing.T) {
	for _, single := range []bool{true, false} {
		saved := jwt.MarshalSingleStringAsArray
		jwt.MarshalSingleStringAsArray = single
		for _, aud := range []jwt.ClaimStrings{nil, {}, {"api"}, {"api", "https://a.example/<x>"}, {"ü"}} {
			for _, client := range []string{"", "web-app", `q"<ü>`} {
				rp := refreshPayload{Issuer: "iss", Subject: "alice", Audience: aud, ExpiresAt: 1 << 40, IssuedAt: 7, ID: "j", SessionID: "s", Generation: 3, ClientID: client}
				want, err := json.Marshal(rp)
				require.NoError(t, err)
				require.Equal(t, string(want), string(rp.appendJSON(nil)))
			}
		}
		jwt.MarshalSingleStringAsArray = saved
	}
}

func TestKeysAreDomainSeparated(t *testing.T) {
	ks := DeriveKeys(internalSecret)
	require.NotEqual(t, ks.Access, ks.Refresh)
	require.NotEqual(t, internalSecret, ks.Access)
	require.NotContains(t, ks.Kid, string(internalSecret[:8]))
	require.Equal(t, ks, DeriveKeys(internalSecret), "deterministic")
}
