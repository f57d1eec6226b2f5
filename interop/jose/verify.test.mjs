// Checks that jose (https://github.com/panva/jose), a JOSE library rtr
// never wrote, verifies rtr's access tokens from rtr's JWKS the way an
// RFC 9068 resource server would, and refuses what it must refuse.
//
// The Go driver (jose_test.go) starts an rtr issuer per algorithm, serves
// its JWKS, mints tokens and writes them to the JSON file named by
// RTR_JOSE_CASES:
//
//   {"cases": [{"alg", "jwks_url", "issuer", "audience", "subject",
//               "access_token", "tampered_token", "refresh_token",
//               "other_key_token"}]}
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';

const file = process.env.RTR_JOSE_CASES;
assert.ok(file, 'RTR_JOSE_CASES must name the cases file written by the Go driver');
const { cases } = JSON.parse(readFileSync(file, 'utf8'));
assert.ok(cases.length > 0, 'no cases');

for (const c of cases) {
  const jwks = createRemoteJWKSet(new URL(c.jwks_url));
  const options = { issuer: c.issuer, audience: c.audience, typ: 'at+jwt', algorithms: [c.alg] };

  test(`${c.alg}: an rtr access token verifies`, async () => {
    const { payload, protectedHeader } = await jwtVerify(c.access_token, jwks, options);
    assert.equal(protectedHeader.alg, c.alg);
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, c.subject);
    assert.equal(payload.iss, c.issuer);
    assert.equal(payload.client_id, c.client_id);
    assert.ok(payload.sid, 'sid');
    assert.ok(payload.jti, 'jti');
    assert.ok(payload.exp > payload.iat, 'exp after iat');
  });

  test(`${c.alg}: a tampered access token is refused`, async () => {
    await assert.rejects(jwtVerify(c.tampered_token, jwks, options), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  test(`${c.alg}: a refresh token is refused`, async () => {
    assert.equal(decodeProtectedHeader(c.refresh_token).typ, 'rt+jwt');
    await assert.rejects(jwtVerify(c.refresh_token, jwks, options));
    // Even without the typ check: the refresh token is HS256, never in the JWKS.
    await assert.rejects(jwtVerify(c.refresh_token, jwks, { issuer: c.issuer }));
  });

  test(`${c.alg}: a token under a key not in the JWKS is refused`, async () => {
    await assert.rejects(jwtVerify(c.other_key_token, jwks, options));
  });
}
