package io.quotaledger.client;

import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;

import java.util.UUID;

/**
 * A result as the client hands it out: immutable, with the request id it answers.
 *
 * @param requestId     the request's id (null for QUERY).
 * @param op            the operation answered.
 * @param code          OK, a ledger rejection, or a protocol error.
 * @param duplicate     the request had been applied before: this is its original result.
 * @param exceededHold  a SETTLE charged more than its hold.
 * @param frozen        the account is frozen.
 * @param fromFree      charged from the free quota.
 * @param fromBalance   charged from the balance.
 * @param returned      given back (SETTLE, RELEASE).
 * @param balance       the balance after the operation (after a rejection: the account's balance now, 0 without one).
 * @param held          the total of the account's open holds.
 * @param creditLimit   how far below zero the balance may go.
 * @param freeRemaining free units left this period for the service asked about.
 */
public record LedgerResult(
    UUID requestId,
    Op op,
    ResultCode code,
    boolean duplicate,
    boolean exceededHold,
    boolean frozen,
    long fromFree,
    long fromBalance,
    long returned,
    long balance,
    long held,
    long creditLimit,
    long freeRemaining)
{
    public boolean ok()
    {
        return code == ResultCode.OK;
    }
}
