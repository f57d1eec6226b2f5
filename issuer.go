package rtr

import (
	"context"
	"fmt"

	"github.com/rtr-go/rtr/internal/token"
)

// Issuer logs users in, rotates their refresh tokens, detects replayed
// ones and ends sessions. Create one with [NewIssuer] and share it: it is
// safe for concurrent use.
type Issuer struct {
	cfg      Config
	codec    *token.Codec // mints and parses both token kinds; shared with verifier
	verifier *Verifier

	feed RevocationFeed // the store's, when InstantRevocation is on
}

// NewIssuer checks cfg, fills in defaults and derives the keys. It fails
// with [ErrInvalidConfig], and a reason, for a config that cannot be used
// safely: no store; a secret shorter than [MinSecretLen] bytes or clearly
// not random; a previous secret equal to the current one; a negative
// duration; lifetimes that do not nest (ReuseGrace <= AccessTTL <=
// RefreshTTL <= MaxSessionAge, see [Config]); a [Config.SigningKey] or
// [Config.PreviousPublicKeys] entry rtr does not sign or verify with.
func NewIssuer(cfg Config) (*Issuer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	codec, err := token.New(token.Config{
		Secret:             cfg.Secret,
		PreviousSecrets:    cfg.PreviousSecrets,
		Signer:             cfg.SigningKey,
		PreviousPublicKeys: cfg.PreviousPublicKeys,
		Issuer:             cfg.Issuer,
		Audience:           cfg.Audience,
		Leeway:             cfg.Leeway,
		Now:                cfg.Now,
		MaxAge:             cfg.MaxSessionAge,
		MaxLen:             MaxTokenLen,
		MaxSubjectLen:      MaxSubjectLen,
		Errors:             tokenErrors,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	iss := &Issuer{cfg: cfg, codec: codec, verifier: &Verifier{codec: codec}}
	if cfg.InstantRevocation {
		iss.feed = cfg.Store.(RevocationFeed)
		iss.verifier.followRevocations(iss.feed, revocationOptions{
			now: iss.cfg.Now, maxLag: iss.cfg.RevocationMaxLag, failClosed: iss.cfg.RevocationFailClosed,
			maxEntries: iss.cfg.RevocationMaxEntries, leeway: iss.cfg.Leeway, emit: iss.emitFeed,
		})
	}
	return iss, nil
}

// Verifier returns the access-token verifier that shares this issuer's keys
// and settings.
func (iss *Issuer) Verifier() *Verifier { return iss.verifier }

// extraClaims calls [Config.Claims] and encodes the result.
func (iss *Issuer) extraClaims(ctx context.Context, subject string) ([]byte, error) {
	if iss.cfg.Claims == nil {
		return nil, nil
	}
	extra, err := iss.cfg.Claims(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("rtr: claims callback: %w", err)
	}
	return iss.codec.EncodeExtra(extra)
}

// pair mints an access token and (re-)signs the current refresh token of rec.
func (iss *Issuer) pair(rec *SessionRecord, extra []byte) (Pair, error) {
	now := iss.cfg.Now()
	exp := unixTime(now.Add(iss.cfg.AccessTTL))
	extra = withClientID(extra, rec.Meta)
	at, err := iss.codec.MintAccess(token.NewAccess{
		Subject:   rec.Subject,
		SessionID: rec.ID,
		ID:        newID(),
		IssuedAt:  now,
		ExpiresAt: exp,
	}, extra)
	if err != nil {
		return Pair{}, fmt.Errorf("rtr: minting access token: %w", err)
	}
	// The refresh token depends only on rec, so re-signing the same
	// generation (a grace retry) yields the same token.
	rt := iss.codec.MintRefresh(token.NewRefresh{
		Subject:    rec.Subject,
		SessionID:  rec.ID,
		ID:         rec.Current,
		Generation: rec.Generation,
		IssuedAt:   rec.LastUsedAt,
		ExpiresAt:  rec.ExpiresAt(),
		ClientID:   rec.Meta[MetaClientID],
	})
	return Pair{
		AccessToken:      at,
		RefreshToken:     rt,
		AccessExpiresAt:  exp,
		RefreshExpiresAt: unixTime(rec.ExpiresAt()),
		SessionID:        rec.ID,
	}, nil
}

func (iss *Issuer) emit(ctx context.Context, t EventType, subject, sid string, gen uint64) {
	if iss.cfg.OnEvent != nil {
		iss.cfg.OnEvent(ctx, Event{Type: t, Subject: subject, SessionID: sid, Generation: gen, Time: iss.cfg.Now()})
	}
}

// emitFeed reports a revocation-feed event (no subject, no session).
func (iss *Issuer) emitFeed(t EventType) { iss.emit(context.Background(), t, "", "", 0) }
