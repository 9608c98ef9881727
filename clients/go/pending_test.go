package ledger

import "testing"

// The ring keeps every call in flight findable by its id: through growth, and when an old call is still in flight
// as newer ids come round to its slot.
func TestPendingFindsEveryCallInFlight(t *testing.T) {
	p := newPending()
	calls := map[int64]*Call{}
	add := func(corr int64) {
		call := &Call{corr: corr}
		p.add(call)
		calls[corr] = call
	}
	add(1) // stays in flight while many newer ids pass its slot
	for corr := int64(2); corr < 10*minPending; corr++ {
		add(corr)
		if corr > 100 {
			if p.take(corr-99) != calls[corr-99] {
				t.Fatalf("take %d", corr-99)
			}
			delete(calls, corr-99)
		}
	}
	for corr := int64(5000); corr < 5000+3*minPending; corr++ { // more than half full: grows
		add(corr)
	}
	if p.len() != len(calls) {
		t.Fatalf("%d in flight, want %d", p.len(), len(calls))
	}
	for corr, call := range calls {
		if p.get(corr) != call {
			t.Fatalf("get %d", corr)
		}
	}
	if p.get(2) != nil || p.take(2) != nil || p.len() != len(calls) {
		t.Fatal("an answered id found again")
	}
	sorted := p.oldestFirst(nil)
	if len(sorted) != len(calls) || sorted[0].corr != 1 {
		t.Fatalf("oldest first: %d calls, first %d", len(sorted), sorted[0].corr)
	}
	for i := 1; i < len(sorted); i++ {
		if sorted[i-1].corr >= sorted[i].corr {
			t.Fatalf("out of order at %d", i)
		}
	}
	for corr, call := range calls {
		if p.take(corr) != call {
			t.Fatalf("take %d", corr)
		}
	}
	if p.len() != 0 || len(p.oldestFirst(nil)) != 0 {
		t.Fatalf("%d left", p.len())
	}
}
