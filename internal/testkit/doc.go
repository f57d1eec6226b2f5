// Package testkit is the one toolbox of rtr's own tests: a settable clock,
// a go-redis hook that counts round trips and helpers that read and tamper
// with a JWT's payload without verifying it.
//
// It imports neither package rtr (so that package rtr's internal tests can
// use it) nor testify (so that the public rtrtest package may build on
// it); its helpers report failures with [testing.TB.Fatalf].
package testkit
