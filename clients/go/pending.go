package ledger

import "sort"

// minPending is the first size of a connection's ring of calls in flight; it doubles while more than half full.
const minPending = 256

// pending are the calls in flight on a connection, by correlation id. A connection's correlation ids count up, so
// the calls in flight sit in nearly consecutive slots of a ring indexed by the id's low bits: no hashing and no
// allocation per request, unlike a map. A call still in flight when a newer id comes round to its slot (it waited
// far longer than the others) moves to a map, which is empty otherwise. Under conn.mu.
type pending struct {
	ring  []*Call
	mask  int64
	spill map[int64]*Call
	n     int
}

func newPending() pending {
	return pending{ring: make([]*Call, minPending), mask: minPending - 1}
}

// len is how many calls are in flight.
func (p *pending) len() int {
	return p.n
}

// add adds a call, by its correlation id, which no call in flight has.
func (p *pending) add(call *Call) {
	if p.n >= len(p.ring)/2 {
		p.grow()
	}
	p.place(call)
	p.n++
}

// place puts the call in its slot, moving the slot's older call to spill.
func (p *pending) place(call *Call) {
	slot := &p.ring[call.corr&p.mask]
	if *slot != nil {
		if p.spill == nil {
			p.spill = make(map[int64]*Call)
		}
		p.spill[(*slot).corr] = *slot
	}
	*slot = call
}

// grow doubles the ring; the spilled calls whose slot is free move back into it.
func (p *pending) grow() {
	old := p.ring
	p.ring = make([]*Call, 2*len(old))
	p.mask = int64(len(p.ring) - 1)
	for _, call := range old {
		if call != nil {
			p.ring[call.corr&p.mask] = call // distinct slots of the old ring are distinct slots of the new one
		}
	}
	for corr, call := range p.spill {
		if p.ring[corr&p.mask] == nil {
			p.ring[corr&p.mask] = call
			delete(p.spill, corr)
		}
	}
}

// get returns the call in flight with that correlation id, or nil.
func (p *pending) get(corr int64) *Call {
	if call := p.ring[corr&p.mask]; call != nil && call.corr == corr {
		return call
	}
	if len(p.spill) == 0 {
		return nil
	}
	return p.spill[corr]
}

// take removes and returns the call in flight with that correlation id, or nil.
func (p *pending) take(corr int64) *Call {
	slot := &p.ring[corr&p.mask]
	if call := *slot; call != nil && call.corr == corr {
		*slot = nil
		p.n--
		return call
	}
	if len(p.spill) == 0 {
		return nil
	}
	call := p.spill[corr]
	if call != nil {
		delete(p.spill, corr)
		p.n--
	}
	return call
}

// each calls f with every call in flight, in no particular order; f may take the call it is given.
func (p *pending) each(f func(*Call)) {
	for _, call := range p.ring {
		if call != nil {
			f(call)
		}
	}
	for _, call := range p.spill {
		f(call)
	}
}

// oldestFirst appends every call in flight to calls, in the order they were sent (by correlation id).
func (p *pending) oldestFirst(calls []*Call) []*Call {
	first := len(calls)
	p.each(func(call *Call) { calls = append(calls, call) })
	sort.Slice(calls[first:], func(i, j int) bool { return calls[first+i].corr < calls[first+j].corr })
	return calls
}
