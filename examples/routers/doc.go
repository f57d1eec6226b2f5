// Package routers checks that rtr's middleware and handlers work unchanged
// with http.ServeMux (Go 1.22 patterns), chi and gorilla/mux. It is a
// module of its own, so that the library never depends on a router:
//
//	cd examples/routers && go test -race ./...
//
// rtr.HTTPAuth.Require and Optional have the standard
// func(http.Handler) http.Handler shape: pass them to chi's Use or With and
// to gorilla/mux's Use as they are.
package routers
