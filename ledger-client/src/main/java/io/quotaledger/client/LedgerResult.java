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
 * @param keyRevoked    QUERY by key: the key is revoked.
 * @param keyExpired    QUERY by key: the key has expired.
 * @param virtualKeyId  the virtual key the request went through or named, 0 for none.
 * @param units         the units the request asked to be priced, 0 when it carried an amount.
 * @param amount        DEDUCT, RESERVE: the amount charged or held (priced from the units when it carried units);
 *                      SETTLE: the final charge; QUERY and every setting naming a key: its budget, -1 unlimited.
 * @param retryAfterMillis RATE_LIMITED, SPEND_WINDOW_EXCEEDED: ms until the same request could pass, -1 never.
 * @param keySpent      the key's spend in its current period after the operation.
 * @param keyBudgetRemaining what the key may still spend in its current period, -1 when unlimited.
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
    long freeRemaining,
    boolean keyRevoked,
    boolean keyExpired,
    long virtualKeyId,
    long units,
    long amount,
    long retryAfterMillis,
    long keySpent,
    long keyBudgetRemaining)
{
    public boolean ok()
    {
        return code == ResultCode.OK;
    }
}
