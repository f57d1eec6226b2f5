package rtr

import (
	"fmt"
	"time"
)

// Session describes one logged-in device of a subject, as returned by
// [Issuer.Sessions].
//
// Its times are truncated to the minute, and it carries no generation
// count: a device list is shown to users, and a thief who learns when a
// session rotates can replay its stolen token inside every grace window
// and follow the victim undetected (see [Config.ReuseGrace]).
type Session struct {
	ID         string
	Subject    string
	CreatedAt  time.Time         // login, to the minute
	LastUsedAt time.Time         // last rotation (login before the first), to the minute
	ExpiresAt  time.Time         // when the session ends if not used again, to the minute (rounded down)
	Meta       map[string]string // as given with [WithMeta] at login
}

// SessionTimeResolution is the resolution of the times in a [Session].
const SessionTimeResolution = time.Minute

func sessionFromRecord(r SessionRecord) Session {
	return Session{
		ID:         r.ID,
		Subject:    r.Subject,
		CreatedAt:  r.CreatedAt.Truncate(SessionTimeResolution),
		LastUsedAt: r.LastUsedAt.Truncate(SessionTimeResolution),
		ExpiresAt:  r.ExpiresAt().Truncate(SessionTimeResolution),
		Meta:       r.Meta,
	}
}

// Limits on session metadata, enforced by [WithMeta].
const (
	MaxMetaEntries  = 8
	MaxMetaKeyLen   = 32
	MaxMetaValueLen = 256 // longer values are truncated (user agents can be long)
)

// IssueOption configures [Issuer.Issue].
type IssueOption func(*issueOptions) error

type issueOptions struct {
	meta map[string]string
}

// WithMeta attaches descriptive metadata to the new session, for a device
// list: a user agent, an IP address, a device name. Values longer than
// [MaxMetaValueLen] bytes are truncated; more than [MaxMetaEntries] entries
// or a key longer than [MaxMetaKeyLen] bytes makes Issue fail. Never put a
// credential here: metadata is stored as is.
func WithMeta(key, value string) IssueOption {
	return func(o *issueOptions) error {
		if key == "" || len(key) > MaxMetaKeyLen {
			return fmt.Errorf("rtr: meta key must be 1 to %d bytes", MaxMetaKeyLen)
		}
		if len(value) > MaxMetaValueLen {
			value = truncateUTF8(value, MaxMetaValueLen)
		}
		if o.meta == nil {
			o.meta = make(map[string]string, 2)
		}
		o.meta[key] = value
		if len(o.meta) > MaxMetaEntries {
			return fmt.Errorf("rtr: at most %d meta entries", MaxMetaEntries)
		}
		return nil
	}
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
