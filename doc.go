// Package rtr implements refresh-token rotation with reuse detection for
// Go services: short-lived JWT access tokens, one-use refresh tokens, and
// the whole session revoked the moment a spent refresh token is replayed.
//
// # The flow
//
// An application that has authenticated a user (password, OAuth, passkey)
// calls [Issuer.Issue] with the user's id. That starts a session (a token
// family: one per device) and returns a [Pair]: an access token, valid for
// [Config.AccessTTL], and a refresh token. A user has at most
// [Config.MaxSessionsPerSubject] sessions (100 by default): a login beyond
// the cap ends the least recently used one, in the same atomic store step.
//
// Every request carries the access token; [Verifier.Verify] checks it with
// no store I/O: signature, pinned algorithm, the "at+jwt" typ header, key
// id, expiry, issuer and audience. The verified [Claims] hold the subject,
// the session id and any extra claims from [Config.Claims].
//
// When the access token expires the client presents its refresh token to
// [Issuer.Refresh]. In one atomic store operation rtr decides:
//
//   - the token is the session's current one: it is spent, and a new pair
//     (generation n+1) is returned. The session's idle expiry slides to
//     now+[Config.RefreshTTL], never past [Config.MaxSessionAge] from login;
//   - the token is the one rotated just before, presented again less than
//     [Config.ReuseGrace] after that rotation (a second tab, a lost
//     response): the current pair is returned again, unrotated, so every
//     honest party converges on one token ([RecommendedReuseGrace] is what
//     we suggest; zero is strict);
//   - any other spent token is a replay: the session is revoked, an
//     [EventReuseDetected] goes to [Config.OnEvent], and the call fails
//     with [ErrTokenReused]. The thief and the user are both logged out of
//     that session; the user logs in again, the thief cannot.
//
// [Issuer.Revoke] logs one session out, [Issuer.RevokeSession] one device
// of a device list, [Issuer.RevokeAll] all of a user's sessions, and
// [Issuer.Sessions] lists them.
//
// # HTTP
//
// [NewHTTPAuth] applies the policy to net/http. [HTTPAuth.Require] and
// [HTTPAuth.Optional] are plain func(http.Handler) http.Handler middleware
// that put the verified [Claims] in the request's context
// ([ClaimsFromContext]). In [CookieMode], the default, both tokens live in
// HttpOnly cookies and the middleware rotates them transparently. In
// [BearerMode] ([WithMode]) the access token comes in the Authorization
// header, [HTTPAuth.Login] and [HTTPAuth.WriteTokenResponse] answer a
// login with the RFC 6749 token JSON, [HTTPAuth.RefreshHandler] is an RFC
// 6749 token endpoint for the refresh_token grant (form or JSON body, or a
// cookie with [WithRefreshCookie]; refused grants are 400 invalid_grant)
// and [HTTPAuth.RevokeHandler] an RFC 7009 revocation endpoint, so OAuth
// 2.0 client libraries work unchanged; [WithClientAuthenticator]
// authenticates confidential clients and [WithClientID] names the client
// in the access tokens. [HTTPAuth.LogoutHandler] and
// [HTTPAuth.LogoutAllHandler] end one or every session. Unsafe
// cross-origin requests that would use a cookie are refused, and
// [WithLogger] reports a deployment that browsers cannot work with
// (Secure cookies over plain HTTP).
//
// # Keys and other services
//
// Access tokens are HS256 under a key derived from [Config.Secret] unless
// [Config.SigningKey] is set (EdDSA, ES256 or RS256). With HS256 whoever
// can verify can also mint, so give the secret only to services of the
// same trust. With a signing key other services verify the tokens from the
// public keys alone, published by [Issuer.JWKSHandler]: [NewVerifier]
// reads them from a JWKS URL (cached, re-fetched on an unknown key id, and
// [ErrKeyUnavailable], "cannot tell now", while it cannot be fetched) or
// from static keys, and [NewBearerMiddleware] protects a resource server's
// routes with a [Verifier] alone. [Config.PreviousPublicKeys] keeps
// earlier keys verifying, and publishes the next one ahead, during a key
// rotation. Refresh tokens stay HMAC under keys derived from the secret:
// only the issuer reads them.
//
// # Instant revocation
//
// By default an access token stays valid until it expires, even after its
// session ended. With [Config.InstantRevocation] every ended session
// (logout, [Issuer.RevokeAll], reuse detection, a session-cap eviction) is
// published on the store's [RevocationFeed], and every issuer's verifier on
// that store, and every [NewVerifier] given the feed
// ([VerifierConfig.RevocationFeed]), refuses its access tokens with
// [ErrTokenRevoked], still with no I/O per Verify: the ended sessions are
// held in memory. [Verifier.RevocationStatus] reports the feed's health.
//
// # Errors
//
// Errors are sentinels checked with [errors.Is]. A store that cannot answer
// (Redis down, a timeout, a cancelled context) is [ErrStoreUnavailable]:
// "cannot tell now", never "invalid token". Answer it with 503 and keep the
// client's tokens, so that a Redis blip does not log anybody out.
//
// # Stores
//
// [MemoryStore] keeps sessions in process, for development, tests and
// single-instance services. [RedisStore] works with standalone Redis,
// Sentinel and Redis Cluster; it keeps a user's sessions in one hash, and
// each operation is one command or one Lua script on that key: one round
// trip, one atomic step, one Cluster slot. Both implement [RevocationFeed].
// Stores keep token ids, never tokens. The storetest package checks any
// other [Store] against the contract with one call, and the rtrtest package
// gives an application's tests a settable clock, an issuer preset and a
// browser-like client.
//
// # Configuration mistakes
//
// A setting that cannot be right is refused at start-up, with
// [ErrInvalidConfig] and a message naming the field and the reason, never
// silently adjusted. [NewIssuer] refuses a [Config] whose lifetimes do
// not nest (ReuseGrace <= AccessTTL <= RefreshTTL <= MaxSessionAge) or
// whose secret is short or a placeholder. Options follow one rule: an
// invalid value is refused by the constructor that takes it. Where the
// constructor returns an error ([NewHTTPAuth]) that error wraps
// [ErrInvalidConfig]; where it cannot ([NewMemoryStore],
// [NewRedisStore], whose signatures return only the store), the option
// function or constructor panics with such an error, as go-redis's
// NewClient does on nil options: these are programming errors, and they
// show at start-up rather than at the first login.
//
// # Security notes
//
// Access and refresh keys are derived from [Config.Secret] with domain
// separation, and the typ header is checked on every parse, so one kind of
// token is never accepted as the other. Only canonical base64url is
// accepted, extra claims whose names fold to a reserved one are refused,
// and refresh tokens are bound to the audience they were issued for.
// Tokens larger than [MaxTokenLen] are refused before parsing. Errors,
// events and logs never contain a token. Without instant revocation,
// access tokens stay valid until they expire even after their session is
// revoked: keep [Config.AccessTTL] short.
package rtr
