package rtr

import (
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// checkSignatureOnly bounds what a parse without claim validation (logout
// with an expired token, matching an expired access token to a refresh
// request) accepts: the issuer and audience must be this issuer's, and
// the token must carry an exp no older than MaxSessionAge, past which its
// session has ended for certain. access selects the access-token audience
// rule (at least one configured audience named, as in [Verifier.Verify]);
// refresh tokens must carry exactly the configured audience.
func (c *Config) checkSignatureOnly(rc *jwt.RegisteredClaims, access bool) error {
	if rc.ExpiresAt == nil {
		return fmt.Errorf("%w: missing exp", ErrInvalidToken)
	}
	if rc.ExpiresAt.Before(c.Now().Add(-c.MaxSessionAge - c.Leeway)) {
		return fmt.Errorf("%w: expired longer ago than MaxSessionAge", ErrInvalidToken)
	}
	if c.Issuer != "" && rc.Issuer != c.Issuer {
		return fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	}
	if access && len(c.Audience) > 0 {
		for _, a := range rc.Audience {
			for _, want := range c.Audience {
				if a == want {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	}
	return nil
}
