// Package rtr implements refresh-token rotation with reuse detection for
// Go services: short-lived JWT access tokens, one-use refresh tokens, and
// the whole session revoked the moment a spent refresh token is replayed.
//
// # The flow
//
// An application that has authenticated a user (password, OAuth, passkey)
// calls [Issuer.Issue] with the user's id. That starts a session (a token
// family: one per device) and returns a [Pair]: an access token, valid for
// [Config.AccessTTL], and a refresh token.
//
// Every request carries the access token; [Verifier.Verify] checks it with
// no store I/O: signature, pinned algorithm, the "at+jwt" typ header, key
// id, expiry, issuer and audience. The verified [Claims] hold the subject,
// the session id and any extra claims from [Config.Claims].
//
// Access tokens are HS256 under a key derived from [Config.Secret] unless
// [Config.SigningKey] is set (EdDSA, ES256 or RS256): then other services
// verify them from the public keys alone, published by
// [Issuer.JWKSHandler] and read by [NewVerifier] or any JOSE library, and
// protect their routes with [NewBearerMiddleware].
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
//     honest party converges on one token;
//   - any other spent token is a replay: the session is revoked, an
//     [EventReuseDetected] goes to [Config.OnEvent], and the call fails
//     with [ErrTokenReused]. The thief and the user are both logged out of
//     that session; the user logs in again, the thief cannot.
//
// [Issuer.Revoke] logs one session out, [Issuer.RevokeAll] all of a
// user's sessions, and [Issuer.Sessions] lists them for a device list.
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
// trip, one atomic step, one Cluster slot. Stores keep token ids, never
// tokens. The storetest package checks any other [Store]
// against the contract with one call.
//
// # Configuration mistakes
//
// A setting that cannot be right is refused at start-up, with
// [ErrInvalidConfig] and a message naming the field and the reason, never
// silently adjusted. [NewIssuer] refuses a [Config] whose lifetimes do
// not nest (ReuseGrace <= AccessTTL <= RefreshTTL <= MaxSessionAge) or
// whose secret is short or a placeholder. Options follow one rule: an
// invalid value is refused by the constructor that takes it. Where the
// constructor returns an error ([NewHTTP]) that error wraps
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
// token is never accepted as the other. Tokens larger than [MaxTokenLen]
// are refused before parsing. Errors, events and logs never contain a
// token. Access tokens stay valid until they expire even after their
// session is revoked: keep [Config.AccessTTL] short.
package rtr
