package rtr

import (
	"fmt"

	"github.com/rtr-go/rtr/internal/token"
)

// MetaClientID is the session metadata key under which [WithClientID]
// keeps the OAuth client id. The access tokens of a session whose metadata
// has it carry it as the "client_id" claim, at login and after every
// refresh.
const MetaClientID = "client_id"

// WithClientID names the OAuth 2.0 client the session is issued to. Its
// access tokens then carry the RFC 9068 §2.2 "client_id" claim, at login
// and on every refresh: the id is kept in the session's metadata under
// [MetaClientID] (so it also shows in [Issuer.Sessions]), and counts
// towards [MaxMetaEntries]. id must be 1 to [MaxMetaValueLen] printable
// ASCII characters (RFC 6749 VSCHAR). The session's refresh tokens carry
// the id too: with [WithClientAuthenticator], only the client
// authenticated as id may redeem or revoke them (RFC 6749 §6, RFC 7009
// §2.1).
//
// The access tokens rtr mints follow the RFC 9068 profile: the header has
// typ "at+jwt" and the payload iss (when [Config.Issuer] is set), sub, aud
// (when [Config.Audience] is set), exp, iat, jti, client_id (with this
// option), plus sid, rtr's session id, and the claims of [Config.Claims].
// [Verifier.Verify] checks the signature and its algorithm, typ, exp (and
// nbf, if present) with [Config.Leeway], iss and aud when configured, and
// that sub and sid are present; client_id is not checked (read it with
// [Claims.ClientID]).
func WithClientID(id string) IssueOption {
	return func(o *issueOptions) error {
		if id == "" || len(id) > MaxMetaValueLen {
			return fmt.Errorf("rtr: client id must be 1 to %d bytes", MaxMetaValueLen)
		}
		for i := 0; i < len(id); i++ {
			if c := id[i]; c < 0x20 || c > 0x7e {
				return fmt.Errorf("rtr: client id must be printable ASCII")
			}
		}
		return WithMeta(MetaClientID, id)(o)
	}
}

// ClientID returns the token's "client_id" claim (see [WithClientID]), or
// "" when it has none.
func (c *Claims) ClientID() string {
	var id string
	if !c.Decode("client_id", &id) {
		return ""
	}
	return id
}

// withClientID adds the session's client id (if any) to the encoded extra
// claims, first.
func withClientID(extra []byte, meta map[string]string) []byte {
	id, ok := meta[MetaClientID]
	if !ok || id == "" {
		return extra
	}
	b := make([]byte, 0, len(id)+len(extra)+16)
	b = append(b, `{"client_id":`...)
	b = token.AppendJSONString(b, id)
	if len(extra) > 2 {
		b = append(b, ',')
		b = append(b, extra[1:]...)
		return b
	}
	return append(b, '}')
}
