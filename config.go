package rtr

import (
	"context"
	"crypto"
	"crypto/subtle"
	"fmt"
	"time"
)

// Defaults applied by [NewIssuer] to zero-valued [Config] fields.
const (
	DefaultAccessTTL     = 15 * time.Minute
	DefaultRefreshTTL    = 14 * 24 * time.Hour
	DefaultMaxSessionAge = 90 * 24 * time.Hour

	// RecommendedReuseGrace is the value we suggest for [Config.ReuseGrace].
	// Ten seconds covers the two common honest replays of a refresh token —
	// two browser tabs refreshing at once, and a client whose response was
	// lost and who retries — while keeping the window in which a thief's
	// replay is answered instead of detected to a few seconds. The zero
	// value of ReuseGrace is strict: every replay is treated as theft.
	RecommendedReuseGrace = 10 * time.Second

	// DefaultStoreTimeout bounds each store call when the caller's context
	// has no sooner deadline.
	DefaultStoreTimeout = 5 * time.Second

	// MinSecretLen is the shortest [Config.Secret] accepted.
	MinSecretLen = 32

	// MaxTokenLen is the size limit, in bytes, of any token rtr will parse.
	// Longer input is [ErrInvalidToken] before any decoding happens.
	MaxTokenLen = 8 << 10

	// MaxSubjectLen is the longest subject accepted by [Issuer.Issue].
	MaxSubjectLen = 256

	// DefaultMaxSessionsPerSubject is the default of
	// [Config.MaxSessionsPerSubject].
	DefaultMaxSessionsPerSubject = 100
)

// Config configures an [Issuer]. Only Store and Secret are required.
type Config struct {
	// Store keeps the sessions. Use [NewMemoryStore] in development and
	// tests and [NewRedisStore] in production.
	Store Store

	// Secret is the master secret, at least [MinSecretLen] bytes of
	// randomness (from crypto/rand; a placeholder such as 32 zero bytes or
	// one repeated character is refused). The access-token and refresh-token
	// keys are derived from it with domain separation (HMAC-SHA256 with
	// distinct labels), so a token of one kind can never verify as the
	// other.
	Secret []byte

	// PreviousSecrets are older secrets still accepted when verifying,
	// for key rotation: tokens carry a "kid" naming the secret that signed
	// them, and new tokens are always signed with Secret. Remove an old
	// secret once MaxSessionAge has passed since it was replaced. Each is
	// checked as Secret is, and none may equal Secret.
	PreviousSecrets [][]byte

	// Issuer is the "iss" claim; when set, it is checked on every verify.
	Issuer string

	// Audience is the "aud" claim of access and refresh tokens; when set, a
	// verified access token must name at least one of these audiences. A
	// refresh token is bound to the audience it was issued for: only an
	// issuer whose Audience is the same set redeems or revokes it.
	Audience []string

	// AccessTTL is the lifetime of access tokens. Default [DefaultAccessTTL],
	// or RefreshTTL when that is shorter. Longer than RefreshTTL is refused.
	AccessTTL time.Duration

	// RefreshTTL is the idle lifetime of a session: each rotation extends it
	// to now+RefreshTTL, never past MaxSessionAge from login.
	// Default [DefaultRefreshTTL], or MaxSessionAge when that is shorter.
	// Longer than MaxSessionAge (set, or its default) is refused.
	RefreshTTL time.Duration

	// MaxSessionAge is the absolute lifetime of a session, from login.
	// Default [DefaultMaxSessionAge].
	MaxSessionAge time.Duration

	// ReuseGrace is the idempotent-retry window. When the refresh token that
	// was rotated most recently is presented again less than ReuseGrace
	// after its rotation, [Issuer.Refresh] answers with the current token
	// again instead of revoking the session. The zero value is strict: every
	// replay is theft, two concurrent refreshes with one token included
	// (even in one process, where the HTTP layer otherwise shares one
	// rotation among them). [RecommendedReuseGrace] is what we suggest.
	// Longer than AccessTTL is refused: the window is for honest replays
	// seconds apart.
	//
	// The trade-off: inside the window a thief's replay cannot be told from
	// the victim's retry. A thief holding the token that was current when
	// it was stolen, and who learns when the victim rotates, can replay
	// inside every window, receive the victim's new token each time and
	// follow the session undetected. Keep the window short, and give no one
	// that clock: [Session] reports times to the minute and no generation,
	// but a client allowed to poll the device list can still see when
	// LastUsedAt or ExpiresAt changes, so do not let a session list itself
	// more often than a person would (rate-limit the endpoint), and never
	// publish rotation times (events, logs) to clients. With a zero grace
	// every replay is detected, at the cost of logging out honest clients
	// that retry.
	ReuseGrace time.Duration

	// Claims returns extra access-token claims for a subject. It is called
	// at login and at every refresh, so changes (roles, say) take effect at
	// the next refresh. Names rtr sets itself, and names that equal one of
	// them under [strings.EqualFold] ("SUB", "ſub"), are refused with
	// [ErrReservedClaim]. Optional.
	Claims func(ctx context.Context, subject string) (map[string]any, error)

	// OnEvent receives session events: issued, rotated, retried, reuse
	// detected and revoked. It is called synchronously, after the store
	// operation, so it should be quick. Events never carry a token. Optional.
	OnEvent func(ctx context.Context, e Event)

	// Now is the one clock for everything: minting, verifying and the store.
	// Default [time.Now].
	Now func() time.Time

	// StoreTimeout bounds every store call (a shorter context deadline
	// wins). Running out is [ErrStoreUnavailable]. It also tells the store
	// when to stop: a rotation that reaches Redis after its caller gave up
	// is refused instead of committed, so a client that never received the
	// new token is not later taken for a thief. Default [DefaultStoreTimeout].
	StoreTimeout time.Duration

	// Leeway is the clock skew allowed when checking exp and nbf. Default 0:
	// issuer and verifier usually share a clock, and a token past its exp
	// is expired.
	Leeway time.Duration

	// SigningKey, when set, signs access tokens with a public-key
	// algorithm instead of HS256, so that other services can verify them
	// from the public key alone ([Issuer.JWKSHandler], [NewVerifier])
	// without being able to mint any. The algorithm follows from the key,
	// and only that algorithm is accepted for it:
	//   - an Ed25519 key (ed25519.PrivateKey, or any crypto.Signer whose
	//     public key is an ed25519.PublicKey) signs EdDSA;
	//   - an *ecdsa.PrivateKey on P-256 signs ES256;
	//   - an *rsa.PrivateKey of at least [MinRSABits] bits signs RS256.
	// Any other key is refused by [NewIssuer]. The "kid" of the tokens is
	// the key's RFC 7638 JWK thumbprint. Refresh tokens stay HMAC-SHA256
	// under keys derived from Secret: only the issuer reads them. Nil (the
	// default) signs access tokens with HS256 under a key derived from
	// Secret, and every verifier holds that secret.
	//
	// Switching between HS256 and a signing key, or to a new signing key
	// without listing the old one in PreviousPublicKeys, makes the access
	// tokens already out fail verification: their holders refresh, and no
	// session ends.
	SigningKey crypto.Signer

	// PreviousPublicKeys are public keys verified and published besides
	// SigningKey's, for a key rotation: those of earlier signing keys, so
	// that the access tokens they signed still verify, and that of the next
	// one, published ahead so that verifiers know it before it signs
	// anything. [Issuer.JWKSHandler] lists them after the current key.
	// Each must be
	// an ed25519.PublicKey, an *ecdsa.PublicKey on P-256 or an
	// *rsa.PublicKey of at least [MinRSABits] bits. Drop a key once
	// AccessTTL has passed since it signed its last token. Requires
	// SigningKey.
	PreviousPublicKeys []crypto.PublicKey

	// InstantRevocation makes ended sessions' access tokens invalid at
	// once, in every process on the store: a session that ends by
	// [Issuer.Revoke], [Issuer.RevokeSession], [Issuer.RevokeAll], reuse
	// detection or a session-cap eviction is published on the store's
	// [RevocationFeed], and every issuer's [Verifier] on the store follows
	// the feed and refuses those tokens with [ErrTokenRevoked]. Verify
	// still does no I/O: it looks the session up in memory. The store must
	// implement [RevocationFeed] ([MemoryStore] and [RedisStore] do). A
	// revocation is kept for the revoking issuer's AccessTTL + Leeway +
	// [RevocationMargin], so every process on the store should use the same
	// AccessTTL and Leeway (or the revoking one the longest). Call
	// [Issuer.Close] when done with the issuer. Default off.
	InstantRevocation bool

	// RevocationMaxLag bounds how long the revocation feed may be out of
	// sync (Redis unreachable, say) before it is reported with
	// [EventFeedLagging] and, with RevocationFailClosed, before Verify
	// refuses. Default [DefaultRevocationMaxLag].
	RevocationMaxLag time.Duration

	// RevocationFailClosed chooses what Verify does once the feed has been
	// out of sync for longer than RevocationMaxLag. False (the default):
	// it keeps verifying from what it holds (revocations received earlier
	// are still refused; newer ones are not known) and the lag is
	// reported. True: every access token is refused with
	// [ErrStoreUnavailable] (503, nothing cleared) until the feed is back
	// in sync.
	RevocationFailClosed bool

	// RevocationMaxEntries bounds the revocations a verifier keeps in
	// memory (each lives AccessTTL + Leeway + [RevocationMargin]). Beyond
	// it nothing is forgotten: every access token is refused with
	// [ErrStoreUnavailable] until the excess has expired, and an
	// [EventRevocationOverflow] is emitted. Default
	// [DefaultRevocationMaxEntries].
	RevocationMaxEntries int

	// MaxSessionsPerSubject caps the live sessions of one subject. A login
	// beyond it ends the subject's least recently used sessions (oldest
	// last rotation, or login when never rotated) in the same atomic store
	// step, with an [EventRevoked] for each, so a login flood on one account
	// cannot grow its storage, nor the cost of [Issuer.Sessions] and
	// [Issuer.RevokeAll], without bound. 0 means
	// [DefaultMaxSessionsPerSubject]; a negative value means no limit.
	MaxSessionsPerSubject int
}

// withDefaults validates c and returns a copy with defaults filled in.
//
// Lifetimes must nest: ReuseGrace <= AccessTTL <= RefreshTTL <=
// MaxSessionAge. A default never overrides what was set: an unset
// RefreshTTL or AccessTTL shrinks to fit a shorter MaxSessionAge or
// RefreshTTL that was set, but a value that was set and does not fit
// (set against set, or set against a default) is refused with the reason.
func (c Config) withDefaults() (Config, error) {
	orig := c
	if c.Store == nil {
		return c, fmt.Errorf("%w: Store is required", ErrInvalidConfig)
	}
	if err := checkSecret("Secret", c.Secret); err != nil {
		return c, err
	}
	for i, s := range c.PreviousSecrets {
		if err := checkSecret(fmt.Sprintf("PreviousSecrets[%d]", i), s); err != nil {
			return c, err
		}
		if subtle.ConstantTimeCompare(s, c.Secret) == 1 {
			return c, fmt.Errorf("%w: PreviousSecrets[%d] is the same as Secret; list only secrets that were replaced", ErrInvalidConfig, i)
		}
	}
	for _, d := range []time.Duration{c.AccessTTL, c.RefreshTTL, c.MaxSessionAge, c.ReuseGrace, c.Leeway, c.StoreTimeout, c.RevocationMaxLag} {
		if d < 0 {
			return c, fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
		}
	}
	if c.MaxSessionAge == 0 {
		c.MaxSessionAge = DefaultMaxSessionAge
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = min(DefaultRefreshTTL, c.MaxSessionAge)
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = min(DefaultAccessTTL, c.RefreshTTL)
	}
	if err := checkLifetimes(c, orig); err != nil {
		return c, err
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = DefaultStoreTimeout
	}
	if c.MaxSessionsPerSubject == 0 {
		c.MaxSessionsPerSubject = DefaultMaxSessionsPerSubject
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SigningKey == nil && len(c.PreviousPublicKeys) > 0 {
		return c, fmt.Errorf("%w: PreviousPublicKeys need a SigningKey", ErrInvalidConfig)
	}
	if c.InstantRevocation {
		if _, ok := c.Store.(RevocationFeed); !ok {
			return c, fmt.Errorf("%w: InstantRevocation needs a Store that implements RevocationFeed", ErrInvalidConfig)
		}
	}
	if c.RevocationMaxLag == 0 {
		c.RevocationMaxLag = DefaultRevocationMaxLag
	}
	if c.RevocationMaxEntries < 0 {
		return c, fmt.Errorf("%w: RevocationMaxEntries must not be negative", ErrInvalidConfig)
	}
	if c.RevocationMaxEntries == 0 {
		c.RevocationMaxEntries = DefaultRevocationMaxEntries
	}
	c.Audience = append([]string(nil), c.Audience...)
	c.PreviousPublicKeys = append([]crypto.PublicKey(nil), c.PreviousPublicKeys...)
	return c, nil
}

// minSecretVariety is the fewest distinct byte values a secret must hold.
// 32 random bytes hold about 30; a secret with fewer than 8 is a
// placeholder (zeros, one repeated character, a short repeated pattern),
// not a key.
const minSecretVariety = 8

// checkSecret refuses a secret that is too short or clearly not random.
func checkSecret(name string, s []byte) error {
	if len(s) < MinSecretLen {
		return fmt.Errorf("%w: %s must be at least %d bytes", ErrInvalidConfig, name, MinSecretLen)
	}
	var seen [256]bool
	n := 0
	for _, b := range s {
		if !seen[b] {
			seen[b] = true
			n++
		}
	}
	if n < minSecretVariety {
		return fmt.Errorf("%w: %s is not random (distinct byte values: %d, at least %d needed); use %d bytes from crypto/rand", ErrInvalidConfig, name, n, minSecretVariety, MinSecretLen)
	}
	return nil
}

// checkLifetimes refuses lifetimes that do not nest. c has its defaults
// filled in; orig is the config as given, to tell which values were set.
func checkLifetimes(c, orig Config) error {
	if c.RefreshTTL > c.MaxSessionAge {
		return fmt.Errorf("%w: RefreshTTL (%v) is longer than MaxSessionAge (%v%s): a session would end at MaxSessionAge before it could ever sit idle that long; shorten RefreshTTL or set MaxSessionAge",
			ErrInvalidConfig, c.RefreshTTL, c.MaxSessionAge, defaultNote(orig.MaxSessionAge))
	}
	if c.AccessTTL > c.RefreshTTL {
		return fmt.Errorf("%w: AccessTTL (%v) is longer than RefreshTTL (%v%s): an access token would outlive the idle session it belongs to; shorten AccessTTL",
			ErrInvalidConfig, c.AccessTTL, c.RefreshTTL, defaultNote(orig.RefreshTTL))
	}
	if c.ReuseGrace > c.AccessTTL {
		return fmt.Errorf("%w: ReuseGrace (%v) is longer than AccessTTL (%v%s): the grace is for a second tab or a lost response, seconds (try RecommendedReuseGrace), and a longer one lets a stolen refresh token be replayed undetected",
			ErrInvalidConfig, c.ReuseGrace, c.AccessTTL, defaultNote(orig.AccessTTL))
	}
	return nil
}

// defaultNote marks a value in an error message as a default when the
// field was not set, so that the reader knows which field to set.
func defaultNote(set time.Duration) string {
	if set == 0 {
		return ", the default"
	}
	return ""
}
