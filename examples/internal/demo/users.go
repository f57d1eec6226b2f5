package demo

import (
	"crypto/sha256"
	"crypto/subtle"
)

// Users is the demo user database: alice and bob, password "password".
//
// A real application stores a slow, salted hash (argon2id, bcrypt,
// scrypt) and compares with that library; SHA-256 keeps this example free
// of dependencies. What matters here is that the comparison takes the same
// time whether the user exists or not, and however much of the password is
// right.
type Users map[string][sha256.Size]byte

// NewUsers returns the demo users alice and bob, both with the password
// "password".
func NewUsers() Users {
	h := sha256.Sum256([]byte("password"))
	return Users{"alice": h, "bob": h}
}

// dummy is compared against for unknown users, so that their answer takes
// as long as a known user's.
var dummy = sha256.Sum256([]byte("no such user"))

// Check reports whether password is right for username, in constant time.
func (u Users) Check(username, password string) bool {
	want, known := u[username]
	if !known {
		want = dummy
	}
	got := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1 && known
}
