package ledger

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
)

// ID is a 128-bit request id: Hi is a UUID's most significant half, Lo its least significant half. A request id
// makes a request idempotent: the ledger answers a request it has seen (same id, same fields) with its original
// result, marked Duplicate. The id of a Reserve names its hold. The zero ID is not a valid request id.
type ID struct {
	Hi, Lo int64
}

// IsZero reports whether id is the zero (nil) ID.
func (id ID) IsZero() bool {
	return id.Hi == 0 && id.Lo == 0
}

// String formats id as a UUID: 8-4-4-4-12 lower-case hex digits.
func (id ID) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(id.Hi))
	binary.BigEndian.PutUint64(b[8:], uint64(id.Lo))
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ParseID reads an ID written as a UUID (with or without dashes), as ID.String writes it.
func ParseID(s string) (ID, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return ID{}, fmt.Errorf("ledger: %q is not a 128-bit id (32 hex digits)", s)
	}
	return ID{Hi: int64(binary.BigEndian.Uint64(b[:8])), Lo: int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

// RandomID returns an ID of 128 random bits (never the zero ID), e.g. for a request made outside a Client.
func RandomID() ID {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic("ledger: crypto/rand: " + err.Error())
		}
		id := ID{Hi: int64(binary.BigEndian.Uint64(b[:8])), Lo: int64(binary.BigEndian.Uint64(b[8:]))}
		if !id.IsZero() {
			return id
		}
	}
}

// IDs makes request ids without a random draw per id, as the Java client does (docs/protocol.md, "Making request
// ids"): Hi is 64 random bits drawn once (never 0, so no id is the zero ID), Lo starts at 64 random bits and counts
// up by one per id. Two generators' ids can only meet if they drew the same Hi (2^-64 per pair) and their runs of
// Lo overlap. Safe for concurrent use; the zero value is not usable, make one with NewIDs.
type IDs struct {
	hi   int64
	next atomic.Int64
}

// NewIDs returns a generator with a fresh random prefix and starting point.
func NewIDs() *IDs {
	first := RandomID()
	g := &IDs{hi: first.Hi}
	for g.hi == 0 {
		g.hi = RandomID().Hi
	}
	g.next.Store(first.Lo)
	return g
}

// Next returns the next id: the generator's Hi and the next Lo.
func (g *IDs) Next() ID {
	return ID{Hi: g.hi, Lo: g.next.Add(1) - 1}
}
