module github.com/quotaledger/ledger/examples/go

go 1.19

require github.com/quotaledger/ledger/clients/go v0.0.0

replace github.com/quotaledger/ledger/clients/go => ../../clients/go
