package rtr

// decide applies the rotation policy to rec in memory. It is shared by
// [MemoryStore]; [RedisStore] runs the same rules in Lua. It reports the
// outcome; for OutcomeRotated it updates rec.
func decide(rec *SessionRecord, req RotateRequest, jtiEqual func(a, b string) bool) Outcome {
	switch {
	case req.Generation == rec.Generation && jtiEqual(req.JTI, rec.Current):
		rec.Previous = rec.Current
		rec.Current = req.NewJTI
		rec.Generation++
		rec.LastUsedAt = req.Now
		rec.IdleExpiresAt = req.Now.Add(req.IdleTTL)
		if rec.IdleExpiresAt.After(rec.AbsoluteExpiresAt) {
			rec.IdleExpiresAt = rec.AbsoluteExpiresAt
		}
		return OutcomeRotated
	case req.Generation+1 == rec.Generation && rec.Previous != "" && jtiEqual(req.JTI, rec.Previous) &&
		req.NewJTI != "" && jtiEqual(req.NewJTI, rec.Current):
		// This very request again (a driver retrying after a lost reply):
		// the same answer, whatever the grace.
		return OutcomeRotated
	case req.Generation+1 == rec.Generation && rec.Previous != "" &&
		jtiEqual(req.JTI, rec.Previous) && req.Grace > 0 && req.Now.Sub(rec.LastUsedAt) < req.Grace:
		return OutcomeRetried
	case req.Generation > rec.Generation:
		return outcomeStoreBehind
	default:
		return OutcomeReuseDetected
	}
}

// outcomeStoreBehind is decide's answer to a token newer than the store's
// current generation: the store lost a committed rotation (a failover to a
// replica that missed it, a crash before fsync). The token is genuine, so
// this is no theft; the session is ended quietly ([ErrSessionNotFound]).
const outcomeStoreBehind Outcome = 255
