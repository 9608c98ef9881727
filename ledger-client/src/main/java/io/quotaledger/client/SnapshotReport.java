package io.quotaledger.client;

import io.quotaledger.protocol.ResultCode;

/**
 * The answer to {@link LedgerClient#snapshot()}.
 *
 * @param code        OK once the snapshot file is durable; UNAVAILABLE when one was already in progress or failed.
 * @param sequence    the last journal sequence the snapshot includes.
 * @param bytes       its size.
 * @param pauseMicros how long the ledger's business-logic thread was held copying the state.
 */
public record SnapshotReport(ResultCode code, long sequence, long bytes, long pauseMicros)
{
}
