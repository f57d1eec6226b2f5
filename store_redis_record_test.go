package rtr

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testRecord() SessionRecord {
	at := time.UnixMilli(1_795_000_000_123)
	return SessionRecord{
		ID: "sid", Subject: "alice",
		Current: newID(), Previous: newID(), Generation: 7,
		CreatedAt: at, LastUsedAt: at.Add(time.Hour),
		IdleExpiresAt: at.Add(15 * 24 * time.Hour), AbsoluteExpiresAt: at.Add(90 * 24 * time.Hour),
	}
}

func TestPackRecordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(r *SessionRecord)
		maxLen int // 0: no bound checked
	}{
		{"rtr's jtis fit a listpack entry", func(*SessionRecord) {}, 63},
		{"before the first rotation", func(r *SessionRecord) { r.Previous = "" }, 47},
		{"other jtis", func(r *SessionRecord) { r.Current, r.Previous = "j-2", "j-1" }, 0},
		{"22 characters that are not canonical base64url", func(r *SessionRecord) {
			r.Current, r.Previous = "AAAAAAAAAAAAAAAAAAAAAB", "not*base64*at*all*xx22"
		}, 0},
		{"longest jti", func(r *SessionRecord) { r.Current = strings.Repeat("j", maxPackedJTI) }, 0},
		{"metadata", func(r *SessionRecord) { r.Meta = map[string]string{"ua": "Firefox", "ip": "192.0.2.1"} }, 0},
		{"last generation", func(r *SessionRecord) { r.Generation = maxGeneration }, 0},
		{"epoch", func(r *SessionRecord) { r.CreatedAt, r.LastUsedAt = time.UnixMilli(0), time.UnixMilli(0) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := testRecord()
			tc.edit(&want)
			v, err := packRecord(want)
			require.NoError(t, err)
			if tc.maxLen > 0 {
				require.LessOrEqual(t, len(v), tc.maxLen)
			}
			got, err := unpackRecord(want.Subject, want.ID, v)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestPackRecordTruncatesToMilliseconds(t *testing.T) {
	r := testRecord()
	r.LastUsedAt = r.LastUsedAt.Add(999 * time.Microsecond)
	v, err := packRecord(r)
	require.NoError(t, err)
	got, err := unpackRecord(r.Subject, r.ID, v)
	require.NoError(t, err)
	require.Equal(t, r.LastUsedAt.Truncate(time.Millisecond), got.LastUsedAt)
}

// The scripts compare packed jtis, so packing must be one-to-one.
func TestPackedJTIIsOneToOne(t *testing.T) {
	canonical := newID()
	raw := packedJTI(canonical)[1:] // its 16 decoded bytes, taken as a jti of their own
	jtis := []string{
		canonical, raw, "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAB", "AAAAAAAAAAAAAAAAAAAAA",
		"", "a", strings.Repeat("j", maxPackedJTI), strings.Repeat("j", maxPackedJTI+1), strings.Repeat("k", 300),
	}
	seen := map[string]string{}
	for _, j := range jtis {
		p := packedJTI(j)
		if other, dup := seen[p]; dup {
			// Only jtis too long to pack share a form, and it matches no
			// stored jti.
			require.Greater(t, len(j), maxPackedJTI, "%q and %q pack alike", j, other)
			require.Greater(t, len(other), maxPackedJTI, "%q and %q pack alike", j, other)
		}
		seen[p] = j
	}
	require.Len(t, packedJTI(canonical), 17, "rtr's jtis are stored decoded")
	require.Equal(t, "\xff", packedJTI(strings.Repeat("k", 300)))
}

func TestPackRecordRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(r *SessionRecord)
	}{
		{"no current jti", func(r *SessionRecord) { r.Current = "" }},
		{"current jti too long", func(r *SessionRecord) { r.Current = strings.Repeat("j", maxPackedJTI+1) }},
		{"previous jti too long", func(r *SessionRecord) { r.Previous = strings.Repeat("j", maxPackedJTI+1) }},
		{"generation too large", func(r *SessionRecord) { r.Generation = maxGeneration + 1 }},
		{"time before 1970", func(r *SessionRecord) { r.CreatedAt = time.UnixMilli(-1) }},
		{"zero time", func(r *SessionRecord) { r.LastUsedAt = time.Time{} }},
		{"time after year 10889", func(r *SessionRecord) { r.AbsoluteExpiresAt = time.UnixMilli(maxMillis + 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRecord()
			tc.edit(&r)
			_, err := packRecord(r)
			require.ErrorIs(t, err, ErrStoreUnavailable)
		})
	}
}

func TestUnpackRecordRefusesDamage(t *testing.T) {
	good, err := packRecord(testRecord())
	require.NoError(t, err)
	for name, v := range map[string]string{
		"empty":                  "",
		"fixed part only":        good[:recordFixed],
		"unknown version":        "\x02" + good[1:],
		"current jti cut short":  good[:recordFixed+10],
		"previous jti cut short": good[:len(good)-1],
		"decoded jti not 16":     good[:recordFixed] + "\x85abcde" + "\x00",
		"no current jti":         good[:recordFixed] + "\x00\x00",
		"metadata not JSON":      good + "{",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := unpackRecord("alice", "sid", v)
			require.ErrorIs(t, err, ErrStoreUnavailable)
		})
	}
}

// FuzzUnpackRecord: whatever Redis holds, decoding it never panics, and a
// record it accepts packs back to a record that decodes the same.
func FuzzUnpackRecord(f *testing.F) {
	for _, edit := range []func(r *SessionRecord){
		func(*SessionRecord) {},
		func(r *SessionRecord) { r.Previous = "" },
		func(r *SessionRecord) { r.Meta = map[string]string{"ua": "x"} },
		func(r *SessionRecord) { r.Current = "short" },
	} {
		r := testRecord()
		edit(&r)
		v, err := packRecord(r)
		require.NoError(f, err)
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		rec, err := unpackRecord("s", "id", v)
		if err != nil {
			require.ErrorIs(t, err, ErrStoreUnavailable)
			return
		}
		again, err := packRecord(rec)
		require.NoError(t, err)
		back, err := unpackRecord("s", "id", again)
		require.NoError(t, err)
		require.Equal(t, rec, back)
	})
}
