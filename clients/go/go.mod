module github.com/quotaledger/ledger/clients/go

go 1.19
