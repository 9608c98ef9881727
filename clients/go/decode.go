package ledger

import (
	"github.com/quotaledger/ledger/clients/go/codec"
)

// The kinds of answer a frame from the server may be.
const (
	answerNone = iota // not an answer this client knows, or too short for its version: ignored
	answerResult
	answerHello
	answerSnapshot
)

// decoder reads the server's answers with the generated flyweights; one per connection reader, reused for every
// frame (nothing is allocated per answer).
type decoder struct {
	header   codec.MessageHeader
	result   codec.Result
	hello    codec.HelloResult
	snapshot codec.SnapshotResult
}

// wrap checks a message (a frame after its length prefix) and points the matching flyweight at it.
func (d *decoder) wrap(msg []byte) int {
	if len(msg) < headerLength {
		return answerNone
	}
	d.header.Wrap(msg, 0, uint64(d.header.SbeSchemaVersion()), size(msg))
	block := uint64(d.header.BlockLength())
	version := uint64(d.header.Version())
	if d.header.SchemaId() != codec.ResultSbeSchemaID || version == 0 || headerLength+block > size(msg) {
		return answerNone
	}
	switch d.header.TemplateId() {
	case codec.ResultSbeTemplateID:
		// a version-1 Result ends where the version-2 fields begin
		need := uint64(d.result.VirtualKeyIdEncodingOffset())
		if version >= 2 {
			need = uint64(codec.ResultSbeBlockLength)
		}
		if block < need {
			return answerNone
		}
		d.result.WrapForDecode(msg, headerLength, block, version, size(msg))
		return answerResult
	case codec.HelloResultSbeTemplateID:
		if block < uint64(codec.HelloResultSbeBlockLength) {
			return answerNone
		}
		d.hello.WrapForDecode(msg, headerLength, block, version, size(msg))
		return answerHello
	case codec.SnapshotResultSbeTemplateID:
		if block < uint64(codec.SnapshotResultSbeBlockLength) {
			return answerNone
		}
		d.snapshot.WrapForDecode(msg, headerLength, block, version, size(msg))
		return answerSnapshot
	}
	return answerNone
}

// decodeResult copies the wrapped Result into r, raw codes included: a code or op this client does not know is
// kept as its number.
func (d *decoder) decodeResult(r *Result) {
	m := &d.result
	r.Op = Op(m.OpRaw())
	r.Code = Code(m.CodeRaw())
	flags := m.Flags()
	r.Duplicate = flags.Duplicate()
	r.ExceededHold = flags.ExceededHold()
	r.Frozen = flags.Frozen()
	r.KeyRevoked = flags.KeyRevoked()
	r.KeyExpired = flags.KeyExpired()
	r.FromFree = m.FromFree()
	r.FromBalance = m.FromBalance()
	r.Returned = m.Returned()
	r.Balance = m.Balance()
	r.Held = m.Held()
	r.CreditLimit = m.CreditLimit()
	r.FreeRemaining = m.FreeRemaining()
	if m.ActingVersion() >= 2 {
		r.VirtualKeyID = m.VirtualKeyId()
		r.Units = m.Units()
		r.Amount = m.Amount()
		r.RetryAfterMillis = m.RetryAfterMillis()
		r.KeySpent = m.KeySpent()
		r.KeyBudgetRemaining = m.KeyBudgetRemaining()
	}
}

func (d *decoder) decodeSnapshot(s *SnapshotReport) {
	m := &d.snapshot
	s.Code = Code(m.CodeRaw())
	s.Sequence = m.Sequence()
	s.Bytes = m.Bytes()
	s.PauseMicros = m.PauseMicros()
}
