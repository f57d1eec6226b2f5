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

	// EventFeedLagging: the revocation feed (see [Config.InstantRevocation])
	// has been out of sync for longer than [Config.RevocationMaxLag]: a
	// session ended elsewhere since then may still be accepted here (or,
	// with [Config.RevocationFailClosed], every token is refused with
	// [ErrStoreUnavailable]). Subject and SessionID are empty. Emitted
	// once per outage.
	EventFeedLagging EventType = "feed_lagging"
	// EventFeedRecovered: after an [EventFeedLagging], the feed is in sync
	// again and every revocation missed meanwhile has been received.
	EventFeedRecovered EventType = "feed_recovered"
	// EventRevocationOverflow: more revocations are in force than
	// [Config.RevocationMaxEntries]; every access token is refused with
	// [ErrStoreUnavailable] until the excess expires. Emitted once per
	// overflow.
	EventRevocationOverflow EventType = "revocation_overflow"
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
