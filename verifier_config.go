package rtr

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/rtr-go/rtr/internal/token"
)

// Defaults applied by [NewVerifier] to a [VerifierConfig] with a JWKS URL.
const (
	// DefaultJWKSMinRefreshInterval is the default for
	// [VerifierConfig.JWKSMinRefreshInterval].
	DefaultJWKSMinRefreshInterval = 30 * time.Second

	// DefaultJWKSFetchTimeout bounds each fetch of a remote key set, and is
	// the timeout of the HTTP client used when none is given.
	DefaultJWKSFetchTimeout = 10 * time.Second
)

// VerifierConfig configures a [Verifier] for a service that verifies
// access tokens but does not issue them: it holds no [Store] and no
// signing key. Set exactly one of JWKSURL, PublicKeys and Secret.
type VerifierConfig struct {
	// JWKSURL is where the issuer serves its key set ([Issuer.JWKSHandler]).
	// It must be https, except on a loopback host (tests, a sidecar).
	// The set is fetched on the first verification, cached for
	// JWKSCacheLifetime and fetched again after it, or sooner for a token
	// whose kid it lacks (at most once per JWKSMinRefreshInterval). While
	// it cannot be fetched, tokens under keys already known still verify
	// and other tokens are [ErrKeyUnavailable]. Documents over
	// [MaxJWKSBytes] or with more than [MaxJWKSKeys] keys are refused;
	// entries of key types or algorithms rtr does not verify (anything but
	// EdDSA with Ed25519, ES256 with P-256, RS256 with RSA of at least
	// [MinRSABits] bits), private keys and entries without a kid are
	// skipped.
	JWKSURL string

	// HTTPClient fetches JWKSURL. Default: a client with a
	// [DefaultJWKSFetchTimeout] timeout that follows at most 3 redirects,
	// none from https to http.
	HTTPClient *http.Client

	// JWKSCacheLifetime is how long a fetched key set is used before it is
	// fetched again. Default [JWKSCacheLifetime].
	JWKSCacheLifetime time.Duration

	// JWKSMinRefreshInterval is the shortest time between two fetches
	// caused by unknown kids or failed fetches. Default
	// [DefaultJWKSMinRefreshInterval].
	JWKSMinRefreshInterval time.Duration

	// PublicKeys are the issuers' public keys (as in [Config.SigningKey]
	// and [Config.PreviousPublicKeys]), for a service configured with
	// them directly. Tokens name their key by its RFC 7638 thumbprint.
	PublicKeys []crypto.PublicKey

	// Secret and PreviousSecrets are the issuer's [Config.Secret] and
	// [Config.PreviousSecrets], for HS256 tokens. Whoever holds the secret
	// can mint access tokens (and refresh tokens) for anyone: give it only
	// to services of the same trust as the issuer, and prefer a
	// [Config.SigningKey] with JWKSURL or PublicKeys otherwise.
	Secret          []byte
	PreviousSecrets [][]byte

	// Issuer, Audience, Leeway and Now are as in [Config]: iss and aud are
	// checked when set, Leeway is the clock skew allowed on exp and nbf,
	// Now the clock (default [time.Now]).
	Issuer   string
	Audience []string
	Leeway   time.Duration
	Now      func() time.Time

	// RevocationFeed, when set, is the revocation feed of the issuers'
	// store (a [MemoryStore] or [RedisStore] they share, say): the
	// verifier follows it as an issuer with [Config.InstantRevocation]
	// does, and refuses the access tokens of ended sessions with
	// [ErrTokenRevoked], with no I/O per Verify. RevocationMaxLag,
	// RevocationFailClosed and RevocationMaxEntries are as in [Config];
	// OnEvent receives the feed's health events ([EventFeedLagging],
	// [EventFeedRecovered], [EventRevocationOverflow]). Call
	// [Verifier.Close] to stop following.
	RevocationFeed       RevocationFeed
	RevocationMaxLag     time.Duration
	RevocationFailClosed bool
	RevocationMaxEntries int
	OnEvent              func(ctx context.Context, e Event)
}

// NewVerifier returns a [Verifier] for a verify-only service. It fails
// with [ErrInvalidConfig] unless exactly one key source (JWKSURL,
// PublicKeys or Secret) is set, for a JWKS URL that is not https (outside
// loopback), a key rtr does not verify with, a short secret or a negative
// duration. It does no I/O: a JWKS is fetched on the first
// [Verifier.Verify].
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	sources := 0
	for _, set := range []bool{cfg.JWKSURL != "", len(cfg.PublicKeys) > 0, len(cfg.Secret) > 0} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, fmt.Errorf("%w: set exactly one of JWKSURL, PublicKeys and Secret", ErrInvalidConfig)
	}
	if cfg.RevocationMaxEntries < 0 {
		return nil, fmt.Errorf("%w: RevocationMaxEntries must not be negative", ErrInvalidConfig)
	}
	for _, d := range []time.Duration{cfg.Leeway, cfg.JWKSCacheLifetime, cfg.JWKSMinRefreshInterval, cfg.RevocationMaxLag} {
		if d < 0 {
			return nil, fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
		}
	}
	tc := token.Config{Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway, Now: cfg.Now, MaxLen: MaxTokenLen, MaxSubjectLen: MaxSubjectLen, Errors: tokenErrors}
	if tc.Now == nil {
		tc.Now = time.Now
	}
	switch {
	case len(cfg.Secret) > 0:
		// The issuer's own rules: a verifier must not accept a secret that
		// NewIssuer refuses (a placeholder, say).
		if err := checkSecret("Secret", cfg.Secret); err != nil {
			return nil, err
		}
		for i, s := range cfg.PreviousSecrets {
			if err := checkSecret(fmt.Sprintf("PreviousSecrets[%d]", i), s); err != nil {
				return nil, err
			}
		}
		tc.Secret, tc.PreviousSecrets = cfg.Secret, cfg.PreviousSecrets
	case len(cfg.PublicKeys) > 0:
		keys, err := token.NewPublicKeys(cfg.PublicKeys)
		if err != nil {
			return nil, fmt.Errorf("%w: PublicKeys: %w", ErrInvalidConfig, err)
		}
		tc.PublicKeys = keys
	default:
		if err := checkJWKSURL(cfg.JWKSURL); err != nil {
			return nil, err
		}
		rk := &remoteKeys{
			url:         cfg.JWKSURL,
			client:      cfg.HTTPClient,
			now:         tc.Now,
			lifetime:    cfg.JWKSCacheLifetime,
			minInterval: cfg.JWKSMinRefreshInterval,
			timeout:     DefaultJWKSFetchTimeout,
		}
		if rk.client == nil {
			rk.client = &http.Client{Timeout: DefaultJWKSFetchTimeout, CheckRedirect: noDowngrade}
		}
		if rk.lifetime == 0 {
			rk.lifetime = JWKSCacheLifetime
		}
		if rk.minInterval == 0 {
			rk.minInterval = DefaultJWKSMinRefreshInterval
		}
		tc.PublicKeys = rk
	}
	codec, err := token.New(tc)
	if err != nil { // only for a signer, which a verifier has not
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return cfg.follow(&Verifier{codec: codec}, tc.Now), nil
}

// follow makes v follow cfg.RevocationFeed, when one is set.
func (cfg *VerifierConfig) follow(v *Verifier, now func() time.Time) *Verifier {
	if cfg.RevocationFeed == nil {
		return v
	}
	o := revocationOptions{
		now:        now,
		maxLag:     cfg.RevocationMaxLag,
		failClosed: cfg.RevocationFailClosed,
		maxEntries: cfg.RevocationMaxEntries,
		leeway:     cfg.Leeway,
	}
	if o.maxLag == 0 {
		o.maxLag = DefaultRevocationMaxLag
	}
	if o.maxEntries == 0 {
		o.maxEntries = DefaultRevocationMaxEntries
	}
	if onEvent := cfg.OnEvent; onEvent != nil {
		o.emit = func(t EventType) { onEvent(context.Background(), Event{Type: t, Time: now()}) }
	}
	v.followRevocations(cfg.RevocationFeed, o)
	return v
}

// checkJWKSURL accepts absolute https URLs, and http ones on a loopback
// host: key sets fetched in clear text could be replaced on the way. The
// loopback rule is stricter than isLoopbackHost's on purpose: only
// "localhost" and loopback addresses, not other names under .localhost,
// which a resolver need not keep on this machine; a wrong answer here
// would hand the verification keys to whoever answers that name.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: JWKSURL must be an absolute URL", ErrInvalidConfig)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("%w: JWKSURL must be https (http only on a loopback host)", ErrInvalidConfig)
}

// noDowngrade follows at most 3 redirects, and none from https to http.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("JWKS: too many redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("JWKS: redirect from https to http refused")
	}
	// Where a redirect leads must itself pass the rule for JWKSURL: http
	// only on a loopback host.
	if err := checkJWKSURL(req.URL.String()); err != nil {
		return errors.New("JWKS: redirect to a URL that JWKSURL could not be refused")
	}
	return nil
}
