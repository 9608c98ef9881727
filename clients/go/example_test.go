package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	ledger "github.com/quotaledger/ledger/clients/go"
)

// A gateway's request: hold an estimate, call the upstream, settle what it used (or release the hold if it failed).
func Example() {
	ctx := context.Background()
	key, err := ledger.ReadKey("", "data")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := ledger.Dial(ctx, ledger.Config{Addr: "127.0.0.1:7070", Key: key, Conns: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	hold, err := client.Do(ctx, ledger.Reserve{UserID: 42, ServiceID: 7, Amount: 2000, TTL: 2 * time.Minute})
	var rejected *ledger.RejectionError
	switch {
	case errors.Is(err, ledger.ErrInsufficientFunds):
		fmt.Println("402: balance", hold.Balance)
		return
	case errors.Is(err, ledger.ErrRateLimited):
		fmt.Println("429: retry after", hold.RetryAfter())
		return
	case errors.As(err, &rejected):
		fmt.Println("refused:", rejected.Result.Code)
		return
	case err != nil:
		fmt.Println("no answer (retry later with the same id):", hold.RequestID, err)
		return
	}
	used, upstreamErr := callUpstream()
	if upstreamErr != nil {
		_, _ = client.Do(ctx, ledger.Release{HoldID: hold.RequestID})
		return
	}
	settled, err := client.Do(ctx, ledger.Settle{HoldID: hold.RequestID, Actual: used})
	if err == nil {
		fmt.Println("charged", settled.FromFree+settled.FromBalance, "balance", settled.Balance)
	}
}

// Pipelining from one goroutine: many requests in flight, results as they come.
func ExampleClient_Go() {
	client, err := ledger.Dial(context.Background(), ledger.Config{Key: "qlk_..."})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	done := make(chan *ledger.Call, 100)
	for i := 0; i < 100; i++ {
		client.Go(ledger.Deduct{UserID: 42, ServiceID: 7, Amount: 1}, done)
	}
	for i := 0; i < 100; i++ {
		call := <-done
		if errors.Is(call.Err, ledger.ErrInsufficientFunds) {
			fmt.Println("out of funds at", call.Result.RequestID)
		}
	}
}

func callUpstream() (int64, error) {
	return 1234, nil
}
