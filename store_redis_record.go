package rtr

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"time"
)

// The Redis store keeps each session as one field of its subject's hash:
// the field is the session id, the value a packed record. The record is
// binary and, without metadata, at most 63 bytes: Redis then keeps a
// small hash as one compact listpack (values up to 64 bytes, by default),
// which is what holds a session under 256 bytes of Redis memory.
//
// Layout (integers big-endian, times in unix milliseconds):
//
//	[0]      format: recordV1, or recordBucketed|k (see below)
//	[1:5]    generation
//	[5:11]   created
//	[11:17]  rotated
//	[17:23]  idle expiry
//	[23:29]  absolute expiry
//	[29:]    current jti, then previous jti (each packed by appendJTI),
//	         then the metadata as JSON (absent when there is none)
//
// The scripts in store_redis_scripts.go are built from these constants
// (luaTemplate), so Go and Lua cannot disagree on an offset.
//
// The format byte also says how far the hash's TTL is known to reach. For
// recordV1 (what earlier versions wrote), only to the session's expiry, so
// every rotation extends the TTL. For recordBucketed|k, to the end of the
// 2^k ms bucket of the idle expiry (capped by the absolute expiry): a
// rotation whose new idle expiry stays in the same bucket needs no PEXPIRE.
// k is chosen at login so that a bucket is about an eighth of the idle
// lifetime: an abandoned hash outlives its last session by at most that.

const (
	recordV1       = 1
	recordBucketed = 0x80 // | k, k <= maxBucketBits
	maxBucketBits  = 47

	offGen, offCreated, offRotated, offIdle, offAbs = 1, 5, 11, 17, 23
	recordFixed                                     = 29 // bytes before the current jti
	maxGeneration                                   = 1<<32 - 1
	maxMillis                                       = 1<<48 - 1 // year 10889
)

// validFormat reports whether c is a format byte this code reads.
func validFormat(c byte) bool {
	return c == recordV1 || (c >= recordBucketed && c <= recordBucketed|maxBucketBits)
}

// bucketBits is the bucket exponent for a session whose idle lifetime at
// login is idleMillis: 2^k is at most an eighth of it.
func bucketBits(idleMillis int64) byte {
	k := bits.Len64(uint64(max(idleMillis/8, 1))) - 1
	return byte(min(k, maxBucketBits))
}

// ttlHorizon is how far the hash's TTL must reach for a session with idle
// and absolute expiries idle and abs (unix ms) in a record of format f.
func ttlHorizon(f byte, idle, abs int64) int64 {
	if f == recordV1 {
		return min(idle, abs)
	}
	b := int64(1) << (f &^ recordBucketed)
	return min(idle-idle%b+b, abs)
}

// A packed jti is a length byte and the jti's bytes. rtr's own jtis (22
// characters of unpadded base64url, 16 bytes) are stored decoded, which
// the length byte's top bit marks; any other jti is stored as it is, up to
// maxPackedJTI bytes. Packing is one-to-one, so the scripts compare packed
// jtis for equality.
const (
	jtiDecoded   = 0x80
	maxPackedJTI = 0x7f
)

var errRecordFormat = fmt.Errorf("%w: malformed session record", ErrStoreUnavailable)

// appendJTI appends jti packed. A jti longer than maxPackedJTI cannot be
// packed.
func appendJTI(b []byte, jti string) ([]byte, bool) {
	if len(jti) == 22 {
		var raw [16]byte
		if n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(jti)); err == nil && n == 16 {
			b = append(b, jtiDecoded|16)
			return append(b, raw[:]...), true
		}
	}
	if len(jti) > maxPackedJTI {
		return b, false
	}
	b = append(b, byte(len(jti)))
	return append(b, jti...), true
}

// packedJTI is jti packed, as the scripts' arguments carry it. A jti too
// long to pack becomes a string that no packed jti equals.
func packedJTI(jti string) string {
	b, ok := appendJTI(make([]byte, 0, 17), jti)
	if !ok {
		return "\xff"
	}
	return string(b)
}

// readJTI reads a packed jti at the start of b and returns it and the rest
// of b.
func readJTI(b []byte) (jti string, rest []byte, ok bool) {
	if len(b) == 0 {
		return "", nil, false
	}
	n := int(b[0] &^ jtiDecoded)
	if len(b) < 1+n {
		return "", nil, false
	}
	v := b[1 : 1+n]
	if b[0]&jtiDecoded != 0 {
		if n != 16 {
			return "", nil, false
		}
		return base64.RawURLEncoding.EncodeToString(v), b[1+n:], true
	}
	return string(v), b[1+n:], true
}

// packRecord encodes r for [RedisStore].
func packRecord(r SessionRecord) (string, error) {
	if r.Generation > maxGeneration {
		return "", fmt.Errorf("%w: generation out of range", ErrStoreUnavailable)
	}
	b := make([]byte, recordFixed, recordFixed+2*17)
	b[0] = recordBucketed | bucketBits(r.IdleExpiresAt.UnixMilli()-r.CreatedAt.UnixMilli())
	binary.BigEndian.PutUint32(b[offGen:], uint32(r.Generation))
	for i, t := range [...]time.Time{r.CreatedAt, r.LastUsedAt, r.IdleExpiresAt, r.AbsoluteExpiresAt} {
		ms := t.UnixMilli()
		if ms < 0 || ms > maxMillis {
			return "", fmt.Errorf("%w: session time out of range", ErrStoreUnavailable)
		}
		putUint48(b[offCreated+6*i:], uint64(ms))
	}
	var ok bool
	if b, ok = appendJTI(b, r.Current); !ok || r.Current == "" {
		return "", fmt.Errorf("%w: jti empty or over %d bytes", ErrStoreUnavailable, maxPackedJTI)
	}
	if b, ok = appendJTI(b, r.Previous); !ok {
		return "", fmt.Errorf("%w: jti over %d bytes", ErrStoreUnavailable, maxPackedJTI)
	}
	if len(r.Meta) > 0 {
		m, err := json.Marshal(r.Meta)
		if err != nil {
			return "", err
		}
		b = append(b, m...)
	}
	return string(b), nil
}

// unpackRecord decodes a record packRecord made, as session id of subject.
func unpackRecord(subject, id, v string) (SessionRecord, error) {
	b := []byte(v)
	if len(b) < recordFixed+1 || !validFormat(b[0]) {
		return SessionRecord{}, errRecordFormat
	}
	ms := func(i int) time.Time { return time.UnixMilli(int64(uint48(b[offCreated+6*i:]))) }
	rec := SessionRecord{
		ID: id, Subject: subject,
		Generation:        uint64(binary.BigEndian.Uint32(b[offGen:])),
		CreatedAt:         ms(0),
		LastUsedAt:        ms(1),
		IdleExpiresAt:     ms(2),
		AbsoluteExpiresAt: ms(3),
	}
	rest := b[recordFixed:]
	var ok1, ok2 bool
	rec.Current, rest, ok1 = readJTI(rest)
	rec.Previous, rest, ok2 = readJTI(rest)
	if !ok1 || !ok2 || rec.Current == "" {
		return SessionRecord{}, errRecordFormat
	}
	if len(rest) > 0 {
		if err := json.Unmarshal(rest, &rec.Meta); err != nil {
			return SessionRecord{}, errRecordFormat
		}
		if len(rec.Meta) == 0 {
			rec.Meta = nil // as packRecord would store it: not at all
		}
	}
	return rec, nil
}

// genBytes is gen as the record holds it. A generation past
// maxGeneration has no form: "" (the rotate script ends such a session).
func genBytes(gen uint64) string {
	if gen > maxGeneration {
		return ""
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(gen))
	return string(b[:])
}

// rotatedTimes is a rotated record's rotation time and idle expiry, as the
// rotate script takes them (it caps the idle expiry at the absolute one).
func rotatedTimes(now, idle int64) string {
	var b [12]byte
	putUint48(b[:], uint64(now))
	putUint48(b[6:], uint64(idle))
	return string(b[:])
}

// rotateLimits is the rotate script's last argument: the deadline (unix
// ms, 0 for none) in 6 bytes, then the grace in ms as a decimal number.
// The script decodes the deadline with string.byte (tonumber would cost a
// strtod on every call) and reads the grace only when a retry is possible.
func rotateLimits(deadline, grace int64) string {
	b := make([]byte, 6, 6+20)
	putUint48(b, uint64(min(max(deadline, 0), maxMillis)))
	return string(strconv.AppendInt(b, grace, 10))
}

func putUint48(b []byte, v uint64) {
	_ = b[5]
	for i := 5; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func uint48(b []byte) uint64 {
	_ = b[5]
	var v uint64
	for _, c := range b[:6] {
		v = v<<8 | uint64(c)
	}
	return v
}
