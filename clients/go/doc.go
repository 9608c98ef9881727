// Package ledger is the Go client of the quota ledger: its binary protocol (SBE over TCP, docs/protocol.md) with
// codecs generated from the protocol's schema (package codec), standard library only.
//
// One Client is meant to be shared by a whole gateway: it keeps a small pool of connections, pipelines any number
// of requests on each (their results matched by correlation id), coalesces the writes of every goroutine into few
// syscalls, resends a request that got no result within Config.Timeout or whose connection dropped (the very same
// request: same request id, so the ledger answers the retry with the original result and never charges twice), and
// reconnects in the background. Config.Endpoints names the members of a cluster: a connection that fails or drops
// goes on to the next member, and what was unanswered is resent there with the same request ids.
//
//	key, err := ledger.ReadKey("", "data") // --key-file, else LEDGER_KEY, else data/admin.key, like the CLI
//	client, err := ledger.Dial(ctx, ledger.Config{Addr: "ledger:7070", Key: key, Conns: 2})
//	defer client.Close()
//
//	hold, err := client.Do(ctx, ledger.Reserve{UserID: 42, ServiceID: 7, Amount: 2000, TTL: 2 * time.Minute})
//	switch {
//	case errors.Is(err, ledger.ErrInsufficientFunds): // 402
//	case errors.Is(err, ledger.ErrRateLimited): // 429, retry after hold.RetryAfter()
//	case err != nil: // another rejection (a *RejectionError) or no result (ErrNoResult, ctx.Err(), ErrClosed)
//	}
//	settled, err := client.Do(ctx, ledger.Settle{HoldID: hold.RequestID, Actual: 1234})
//
// Every request of protocol version 2 is a type implementing Request: Deduct, Reserve, Settle, Release, Credit,
// Grant, SetLimit, Freeze, Unfreeze, Query and the gateway policy settings (virtual keys, prices, groups, rate
// limits, spend windows, concurrency caps). Do waits for one result; Go and Send put requests in flight without
// waiting, for pipelining from one goroutine.
package ledger
