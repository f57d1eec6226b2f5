// Package oauth2 checks that rtr's bearer-mode token endpoint works with
// golang.org/x/oauth2, a standard OAuth 2.0 client library nobody here
// wrote: refreshing through [golang.org/x/oauth2.Config.TokenSource] with
// every AuthStyle, a ReuseTokenSource shared by concurrent callers,
// rotations in a row, and a replayed refresh token refused as
// invalid_grant. It is its own module so that the library never depends
// on x/oauth2; the package holds only tests.
package oauth2
