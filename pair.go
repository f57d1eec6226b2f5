package rtr

import "time"

// Pair is what a login or a refresh hands to the client.
type Pair struct {
	AccessToken      string
	RefreshToken     string
	AccessExpiresAt  time.Time
	RefreshExpiresAt time.Time // the refresh token's exp: the session's idle expiry
	SessionID        string
}
