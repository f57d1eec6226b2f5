package rtr

import "time"

// EventType names what happened to a session.
type EventType string

// The events passed to [Config.OnEvent].
const (
	// EventIssued: a login created a new session ([Issuer.Issue]).
	EventIssued EventType = "issued"
	// EventRotated: a refresh token was rotated ([Issuer.Refresh]).
	EventRotated EventType = "rotated"
	// EventRetried: the previous refresh token was presented again within
	// [Config.ReuseGrace] and answered with the current one, unrotated.
	EventRetried EventType = "retried"
	// EventReuseDetected: a stale refresh token was replayed. The session
	// has been revoked. Treat it as a security incident: alert the user,
	// log the request's IP and user agent.
	EventReuseDetected EventType = "reuse_detected"
	// EventRevoked: a session was ended by [Issuer.Revoke],
	// [Issuer.RevokeAll] (one event per session), or by a login past
	// [Config.MaxSessionsPerSubject] (one per session it ended).
	EventRevoked EventType = "revoked"
)

// Event describes something that happened to a session. It never carries a
// token or any other credential.
type Event struct {
	Type       EventType
	Subject    string
	SessionID  string
	Generation uint64    // the refresh-token generation after the event (0 for revocations)
	Time       time.Time // from [Config.Now]
}
