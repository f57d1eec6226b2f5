package rtr

import (
	"crypto"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
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
	for _, d := range []time.Duration{cfg.Leeway, cfg.JWKSCacheLifetime, cfg.JWKSMinRefreshInterval} {
		if d < 0 {
			return nil, fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
		}
	}
	c := Config{Issuer: cfg.Issuer, Audience: append([]string(nil), cfg.Audience...), Leeway: cfg.Leeway, Now: cfg.Now}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case len(cfg.Secret) > 0:
		for _, s := range append([][]byte{cfg.Secret}, cfg.PreviousSecrets...) {
			if len(s) < MinSecretLen {
				return nil, fmt.Errorf("%w: secrets must be at least %d bytes", ErrInvalidConfig, MinSecretLen)
			}
		}
		kr := newKeyRing(cfg.Secret, cfg.PreviousSecrets)
		return newVerifier(&c, &kr, nil), nil
	case len(cfg.PublicKeys) > 0:
		keys, err := newPublicKeys(cfg.PublicKeys)
		if err != nil {
			return nil, fmt.Errorf("%w: PublicKeys: %w", ErrInvalidConfig, err)
		}
		return newVerifier(&c, nil, keys), nil
	}
	if err := checkJWKSURL(cfg.JWKSURL); err != nil {
		return nil, err
	}
	rk := &remoteKeys{
		url:         cfg.JWKSURL,
		client:      cfg.HTTPClient,
		now:         c.Now,
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
	return newVerifier(&c, nil, rk), nil
}

// checkJWKSURL accepts absolute https URLs, and http ones on a loopback
// host: key sets fetched in clear text could be replaced on the way.
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
	return nil
}
