package rtr

import (
	"context"
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
	// randomness. The access-token and refresh-token keys are derived from
	// it with domain separation (HMAC-SHA256 with distinct labels), so a
	// token of one kind can never verify as the other.
	Secret []byte

	// PreviousSecrets are older secrets still accepted when verifying,
	// for key rotation: tokens carry a "kid" naming the secret that signed
	// them, and new tokens are always signed with Secret. Remove an old
	// secret once MaxSessionAge has passed since it was replaced.
	PreviousSecrets [][]byte

	// Issuer is the "iss" claim; when set, it is checked on every verify.
	Issuer string

	// Audience is the "aud" claim of access tokens; when set, a verified
	// access token must name at least one of these audiences.
	Audience []string

	// AccessTTL is the lifetime of access tokens. Default [DefaultAccessTTL].
	AccessTTL time.Duration

	// RefreshTTL is the idle lifetime of a session: each rotation extends it
	// to now+RefreshTTL, never past MaxSessionAge from login.
	// Default [DefaultRefreshTTL].
	RefreshTTL time.Duration

	// MaxSessionAge is the absolute lifetime of a session, from login.
	// Default [DefaultMaxSessionAge].
	MaxSessionAge time.Duration

	// ReuseGrace is the idempotent-retry window. When the refresh token that
	// was rotated most recently is presented again less than ReuseGrace
	// after its rotation, [Issuer.Refresh] answers with the current token
	// again instead of revoking the session. The zero value is strict (every
	// replay is theft); [RecommendedReuseGrace] is what we suggest.
	ReuseGrace time.Duration

	// Claims returns extra access-token claims for a subject. It is called
	// at login and at every refresh, so changes (roles, say) take effect at
	// the next refresh. Names rtr sets itself are refused with
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
func (c Config) withDefaults() (Config, error) {
	if c.Store == nil {
		return c, fmt.Errorf("%w: Store is required", ErrInvalidConfig)
	}
	if len(c.Secret) < MinSecretLen {
		return c, fmt.Errorf("%w: Secret must be at least %d bytes", ErrInvalidConfig, MinSecretLen)
	}
	for _, s := range c.PreviousSecrets {
		if len(s) < MinSecretLen {
			return c, fmt.Errorf("%w: PreviousSecrets must be at least %d bytes each", ErrInvalidConfig, MinSecretLen)
		}
	}
	for _, d := range []time.Duration{c.AccessTTL, c.RefreshTTL, c.MaxSessionAge, c.ReuseGrace, c.Leeway, c.StoreTimeout} {
		if d < 0 {
			return c, fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
		}
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.MaxSessionAge == 0 {
		c.MaxSessionAge = DefaultMaxSessionAge
	}
	if c.RefreshTTL > c.MaxSessionAge {
		c.RefreshTTL = c.MaxSessionAge
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
	c.Audience = append([]string(nil), c.Audience...)
	return c, nil
}
