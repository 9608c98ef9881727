package io.quotaledger.projector;

import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.ResultCode;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How a batch reads POLICY_APPLIED outcomes: by the outcome right before them, never by re-running a rule.
 */
class ProjectionBatchTest
{
    private static final long T = 1_767_225_600_000L; // 2026-01-01T00:00Z
    private static final long KEY = 7;

    private final Outcome o = new Outcome();
    private long sequence;

    @Test
    void shouldCountAChargeAndAHoldThroughAKeyButNotAnExpiryCausedByADeduct()
    {
        final ProjectionBatch batch = new ProjectionBatch(null);
        add(batch, o.reset(OutcomeType.HOLD_OPENED, Op.RESERVE, T).requestId(1, 1).holdId(1, 1).userId(3)
            .serviceId(2).amount(50).fromBalance(50).balanceAfter(950).expiresAt(T + 1_000));
        add(batch, policy(Op.RESERVE, 1, 50, 0));
        // a later DEDUCT first expires the hold: its close and POLICY_APPLIED carry the DEDUCT's op, amount 0
        add(batch, o.reset(OutcomeType.HOLD_EXPIRED, Op.DEDUCT, T + 2_000).requestId(1, 1).holdId(1, 1).userId(3)
            .serviceId(2).returnedBalance(50).balanceAfter(1_000));
        add(batch, policy(Op.DEDUCT, 1, 0, 0));
        add(batch, o.reset(OutcomeType.CHARGED, Op.DEDUCT, T + 2_000).requestId(1, 2).userId(3).serviceId(2)
            .amount(30).fromBalance(30).balanceAfter(970));
        add(batch, policy(Op.DEDUCT, 2, 30, 100));
        batch.resolveCloses(Map.of());

        final ProjectionBatch.KeyUsage usage = batch.keyUsage().get(new ProjectionBatch.KeyUsageKey(3, KEY, 2, T));
        assertEquals(2, usage.requests, "the reserve and the deduct, not the expiry");
        assertEquals(100, usage.units);
        assertEquals(30, usage.amount, "50 held, 50 returned at expiry, 30 charged");
        assertEquals(OutcomeType.POLICY_APPLIED, batch.lastType());
    }

    @Test
    void shouldReadTheFirstPolicyAppliedOfABatchAfterTheOutcomeAtTheCheckpoint()
    {
        final ProjectionBatch afterCharge = new ProjectionBatch(OutcomeType.CHARGED);
        add(afterCharge, policy(Op.DEDUCT, 9, 40, 0));
        assertEquals(1, afterCharge.keyUsage().get(new ProjectionBatch.KeyUsageKey(3, KEY, 2, T)).requests);

        final ProjectionBatch afterClose = new ProjectionBatch(OutcomeType.HOLD_SETTLED);
        add(afterClose, policy(Op.SETTLE, 9, 40, 0));
        assertTrue(afterClose.keyUsage().isEmpty(), "a close counts through its hold, not its POLICY_APPLIED");
        assertEquals(40, afterClose.keySpends().get(KEY).spent());

        // the hold opened at the checkpoint; its POLICY_APPLIED, then its settle, in this batch
        final ProjectionBatch afterOpen = new ProjectionBatch(OutcomeType.HOLD_OPENED);
        add(afterOpen, policy(Op.RESERVE, 9, 40, 0));
        final UUID hold = new UUID(1, 9);
        assertEquals(Map.of(hold, KEY), afterOpen.keyedEarlier());
        add(afterOpen, o.reset(OutcomeType.HOLD_SETTLED, Op.SETTLE, T + 5).requestId(1, 10).holdId(1, 9).userId(3)
            .serviceId(2).amount(25).fromBalance(25).returnedBalance(15).balanceAfter(975));
        afterOpen.resolveCloses(Map.of(hold, new ProjectionBatch.Hold(hold, 3, 2, 0, 40, T, T + 60_000, 0)));
        final ProjectionBatch.KeyUsage usage =
            afterOpen.keyUsage().get(new ProjectionBatch.KeyUsageKey(3, KEY, 2, T));
        assertEquals(1, usage.requests);
        assertEquals(25, usage.amount, "40 held, settled at 25");
    }

    @Test
    void shouldRefuseAPolicyAppliedThatFollowsNoChargeOrHold()
    {
        final IllegalStateException unknown = assertThrows(IllegalStateException.class,
            () -> add(new ProjectionBatch(null), policy(Op.DEDUCT, 1, 5, 0)));
        assertTrue(unknown.getMessage().contains("POLICY_APPLIED at sequence 1 follows an outcome the projection " +
            "does not know") && unknown.getMessage().contains("rebuild"), unknown.getMessage());
        final IllegalStateException credit = assertThrows(IllegalStateException.class,
            () -> add(new ProjectionBatch(OutcomeType.CREDITED), policy(Op.DEDUCT, 1, 5, 0)));
        assertTrue(credit.getMessage().contains("follows a CREDITED"), credit.getMessage());
    }

    @Test
    void shouldLeaveAccountsAloneAndKeepTheLastSettingOfEachRow()
    {
        final ProjectionBatch batch = new ProjectionBatch(null);
        add(batch, o.reset(OutcomeType.RATE_LIMIT_SET, Op.SET_RATE_LIMIT, T).requestId(2, 1).userId(3)
            .virtualKeyId(KEY).requests(10).perMillis(60_000));
        add(batch, o.reset(OutcomeType.RATE_LIMIT_SET, Op.SET_RATE_LIMIT, T + 1).requestId(2, 2).userId(3)
            .virtualKeyId(KEY).perMillis(60_000)); // removed
        add(batch, o.reset(OutcomeType.CONCURRENCY_SET, Op.SET_CONCURRENCY, T).requestId(2, 3).userId(3).amount(4));
        add(batch, o.reset(OutcomeType.PRICE_SET, Op.SET_PRICE, T).requestId(2, 4).groupId(1).multiplier(2_000_000));
        add(batch, o.reset(OutcomeType.GROUP_SET, Op.SET_GROUP, T).requestId(2, 5).userId(3).groupId(1));
        add(batch, o.reset(OutcomeType.REJECTED, Op.DEDUCT, T).requestId(2, 6).code(ResultCode.SPEND_WINDOW_EXCEEDED)
            .userId(3).serviceId(2).virtualKeyId(KEY).amount(10).retryAfterMillis(9_000));
        assertTrue(batch.accounts().isEmpty(), "no balance in a policy outcome");
        final ProjectionBatch.RateLimit limit = batch.rateLimits().get(new ProjectionBatch.SubjectKey(3, KEY));
        assertEquals(0, limit.requests() + limit.units(), "the removal, last");
        assertEquals(1, batch.rejections().get(new ProjectionBatch.RejectionKey(3, KEY, 2, T,
            ResultCode.SPEND_WINDOW_EXCEEDED))[0]);
        assertEquals(1, batch.keyUsage().get(new ProjectionBatch.KeyUsageKey(3, KEY, 2, T)).rejections);
    }

    /**
     * A service budget's spend, outcome by outcome: a spend before the budget's first SET in the batch applies only
     * to a row that existed before; one after a removal meets no row.
     */
    @Test
    void shouldApplyAServiceBudgetsSpendAsOutcomeByOutcome()
    {
        final ProjectionBatch setAfterSpend = new ProjectionBatch(OutcomeType.CHARGED);
        add(setAfterSpend, policy(Op.DEDUCT, 1, 5, 0));
        add(setAfterSpend, serviceBudget(100));
        final ProjectionBatch.ServiceKey service = new ProjectionBatch.ServiceKey(KEY, 2);
        assertEquals(5, setAfterSpend.serviceBudgets().get(service).spendIfExisted().spent());
        assertTrue(setAfterSpend.serviceSpends().isEmpty());

        final ProjectionBatch removedThenSet = new ProjectionBatch(OutcomeType.CHARGED);
        add(removedThenSet, policy(Op.DEDUCT, 1, 5, 0));
        add(removedThenSet, serviceBudget(-1));
        add(removedThenSet, o.reset(OutcomeType.CHARGED, Op.DEDUCT, T).requestId(1, 2).userId(3).serviceId(2)
            .amount(6).fromBalance(6).balanceAfter(1));
        add(removedThenSet, policy(Op.DEDUCT, 2, 6, 0));
        add(removedThenSet, serviceBudget(200));
        assertEquals(Map.of(service, new ProjectionBatch.ServiceBudget(3, 200, T, null)),
            removedThenSet.serviceBudgets(), "a fresh row");
        assertTrue(removedThenSet.serviceSpends().isEmpty());
        assertTrue(removedThenSet.serviceBudgetsRemoved().contains(service));

        final ProjectionBatch spendAfterSet = new ProjectionBatch(null);
        add(spendAfterSet, serviceBudget(300));
        add(spendAfterSet, o.reset(OutcomeType.CHARGED, Op.DEDUCT, T).requestId(1, 3).userId(3).serviceId(2)
            .amount(7).fromBalance(7).balanceAfter(1));
        add(spendAfterSet, policy(Op.DEDUCT, 3, 7, 0));
        add(spendAfterSet, serviceBudget(400));
        assertNull(spendAfterSet.serviceBudgets().get(service).spendIfExisted());
        assertEquals(7, spendAfterSet.serviceSpends().get(service).spent(), "applied after the row is written");
    }

    private Outcome serviceBudget(final long budget)
    {
        return o.reset(OutcomeType.VIRTUAL_KEY_SERVICE_BUDGET_SET, Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, T)
            .requestId(3, budget).userId(3).virtualKeyId(KEY).serviceId(2).amount(budget);
    }

    /**
     * A POLICY_APPLIED through {@link #KEY} for user 3 on service 2; the spends after are the amount.
     */
    private Outcome policy(final Op op, final long request, final long amount, final long units)
    {
        return o.reset(OutcomeType.POLICY_APPLIED, op, T).requestId(1, request).userId(3).serviceId(2)
            .virtualKeyId(KEY).amount(amount).units(units).keySpentAfter(amount).keyServiceSpentAfter(amount);
    }

    private void add(final ProjectionBatch batch, final Outcome outcome)
    {
        batch.add(++sequence, outcome);
    }
}
