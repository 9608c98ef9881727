package io.quotaledger.core;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static io.quotaledger.core.ResultCode.AMOUNT_OVERFLOW;
import static io.quotaledger.core.ResultCode.CAPACITY_EXCEEDED;
import static io.quotaledger.core.ResultCode.FROZEN;
import static io.quotaledger.core.ResultCode.HOLD_ALREADY_CLOSED;
import static io.quotaledger.core.ResultCode.INSUFFICIENT_FUNDS;
import static io.quotaledger.core.ResultCode.INVALID_AMOUNT;
import static io.quotaledger.core.ResultCode.INVALID_ARGUMENT;
import static io.quotaledger.core.ResultCode.OK;
import static io.quotaledger.core.ResultCode.REQUEST_ID_CONFLICT;
import static io.quotaledger.core.ResultCode.UNKNOWN_ACCOUNT;
import static io.quotaledger.core.ResultCode.UNKNOWN_HOLD;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One operation at a time, against docs/semantics.md.
 */
class LedgerTest
{
    private static final long USER = 42;
    private static final int SVC = 7;
    private static final long HOUR = 3_600_000L;

    private LedgerConfig config;
    private Ledger ledger;
    private final List<Outcome> outcomes = new ArrayList<>();
    private long now;
    private long ids;

    @BeforeEach
    void setUp()
    {
        start(new LedgerConfig().expectedAccounts(16).maxAccounts(100).maxOpenHolds(100).dedupeWindowCount(1000)
            .dedupeWindowMillis(2 * HOUR).maxHoldTtlMillis(HOUR).maxExpiriesPerTick(8));
    }

    private void start(final LedgerConfig newConfig)
    {
        config = newConfig.validate();
        outcomes.clear();
        ledger = new Ledger(config, outcome ->
        {
            final UnsafeBuffer buffer = new UnsafeBuffer(new byte[Outcome.LENGTH]);
            outcome.encode(buffer, 0);
            final Outcome copy = new Outcome();
            assertTrue(copy.decode(buffer, 0));
            outcomes.add(copy);
        });
        now = at("2024-03-13T12:00:00Z");
    }

    private static long at(final String iso)
    {
        return Instant.parse(iso).toEpochMilli();
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private Command cmd(final Op op)
    {
        return new Command().op(op).timestamp(now).requestId(0x5EED, ++ids);
    }

    private Result run(final Command c)
    {
        final Result r = new Result();
        ledger.process(c.timestamp(now), r);
        return r;
    }

    private Result credit(final long user, final long amount)
    {
        return run(cmd(Op.CREDIT).userId(user).amount(amount));
    }

    private Result deduct(final long user, final int service, final long amount)
    {
        return run(cmd(Op.DEDUCT).userId(user).serviceId(service).amount(amount));
    }

    private Command reserveCmd(final long holdLo, final long user, final int service, final long amount, final long ttl)
    {
        return new Command().op(Op.RESERVE).requestId(0x401D, holdLo).userId(user).serviceId(service).amount(amount)
            .ttlMillis(ttl);
    }

    private Result reserve(final long holdLo, final long user, final int service, final long amount, final long ttl)
    {
        return run(reserveCmd(holdLo, user, service, amount, ttl));
    }

    private Result settle(final long holdLo, final long actual)
    {
        return run(cmd(Op.SETTLE).holdId(0x401D, holdLo).amount(actual));
    }

    private Result release(final long holdLo)
    {
        return run(cmd(Op.RELEASE).holdId(0x401D, holdLo));
    }

    private Result grant(final long user, final int service, final long allowance, final Period period)
    {
        return run(cmd(Op.GRANT).userId(user).serviceId(service).amount(allowance).period(period));
    }

    private Result setLimit(final long user, final long limit)
    {
        return run(cmd(Op.SET_LIMIT).userId(user).amount(limit));
    }

    private Result freeze(final long user)
    {
        return run(cmd(Op.FREEZE).userId(user));
    }

    private Result unfreeze(final long user)
    {
        return run(cmd(Op.UNFREEZE).userId(user));
    }

    private Result query(final long user, final int service)
    {
        return run(new Command().op(Op.QUERY).userId(user).serviceId(service));
    }

    private Result tick()
    {
        return run(new Command().op(Op.TICK));
    }

    private static void ok(final Result r)
    {
        assertEquals(OK, r.code(), r.toString());
    }

    private static void rejected(final ResultCode code, final Result r)
    {
        assertEquals(code, r.code(), r.toString());
        assertFalse(r.duplicate(), r.toString());
    }

    private long balance(final long user)
    {
        return query(user, 0).balance();
    }

    private long free(final long user, final int service)
    {
        return query(user, service).freeRemaining();
    }

    private List<OutcomeType> outcomeTypes()
    {
        final List<OutcomeType> types = new ArrayList<>();
        outcomes.forEach(o -> types.add(o.type()));
        return types;
    }

    @Test
    void shouldCheckItsInvariantsWhileTestsRun()
    {
        // every test then asserts, per outcome, the balance identity, held >= 0 and free use within the allowance
        assertTrue(Ledger.class.desiredAssertionStatus(), "tests must run with -ea (surefire's default)");
    }

    // ------------------------------------------------------------------------------------------------ periods

    @Test
    void shouldRollDailyQuotaAtUtcMidnight()
    {
        now = at("2024-03-10T00:00:00Z");
        ok(grant(USER, SVC, 10, Period.DAY));
        now = at("2024-03-10T23:59:59.999Z");
        ok(credit(USER, 100));
        final Result r = deduct(USER, SVC, 12);
        ok(r);
        assertEquals(10, r.fromFree());
        assertEquals(2, r.fromBalance());
        assertEquals(0, r.freeRemaining());
        now = at("2024-03-11T00:00:00Z");
        assertEquals(10, free(USER, SVC));
    }

    @Test
    void shouldRollWeeklyQuotaOnMondayUtc()
    {
        now = at("2024-03-11T00:00:00Z"); // a Monday
        ok(grant(USER, SVC, 10, Period.WEEK));
        ok(deduct(USER, SVC, 4));
        now = at("2024-03-16T23:59:59.999Z"); // Saturday
        assertEquals(6, free(USER, SVC));
        now = at("2024-03-17T23:59:59.999Z"); // Sunday, still the same ISO week
        ok(deduct(USER, SVC, 6));
        assertEquals(0, free(USER, SVC));
        now = at("2024-03-18T00:00:00Z"); // Monday
        assertEquals(10, free(USER, SVC));
    }

    @Test
    void shouldRollWeeklyQuotaAcrossYearEnd()
    {
        now = at("2024-12-30T00:00:00Z"); // Monday of ISO week 2025-W01
        ok(grant(USER, SVC, 10, Period.WEEK));
        ok(deduct(USER, SVC, 10));
        now = at("2025-01-05T23:59:59.999Z"); // the Sunday of the same week
        assertEquals(0, free(USER, SVC));
        now = at("2025-01-06T00:00:00Z");
        assertEquals(10, free(USER, SVC));
    }

    @Test
    void shouldRollMonthlyQuotaFromDecemberToJanuary()
    {
        now = at("2023-12-01T00:00:00Z");
        ok(grant(USER, SVC, 10, Period.MONTH));
        now = at("2023-12-31T23:59:59.999Z");
        ok(deduct(USER, SVC, 10));
        assertEquals(0, free(USER, SVC));
        now = at("2024-01-01T00:00:00Z");
        assertEquals(10, free(USER, SVC));
    }

    @Test
    void shouldRollMonthlyQuotaAtEndOfFebruaryInLeapYear()
    {
        now = at("2024-02-01T00:00:00Z");
        ok(grant(USER, SVC, 10, Period.MONTH));
        now = at("2024-02-28T23:59:59.999Z");
        ok(deduct(USER, SVC, 10));
        now = at("2024-02-29T12:00:00Z"); // leap day: still February
        assertEquals(0, free(USER, SVC));
        now = at("2024-02-29T23:59:59.999Z");
        assertEquals(0, free(USER, SVC));
        now = at("2024-03-01T00:00:00Z");
        assertEquals(10, free(USER, SVC));
    }

    @Test
    void shouldRollMonthlyQuotaAtEndOfFebruaryInCommonYear()
    {
        now = at("2023-02-28T23:59:59.999Z");
        ok(grant(USER, SVC, 10, Period.MONTH));
        ok(deduct(USER, SVC, 10));
        now = at("2023-03-01T00:00:00Z");
        assertEquals(10, free(USER, SVC));
    }

    @Test
    void shouldKeepUsageWhenRegrantingSamePeriodTypeAndResetOnOtherType()
    {
        ok(grant(USER, SVC, 10, Period.DAY));
        ok(deduct(USER, SVC, 4));
        final Result same = grant(USER, SVC, 5, Period.DAY);
        ok(same);
        assertEquals(1, same.freeRemaining());
        ok(grant(USER, SVC, 3, Period.DAY));
        assertEquals(0, free(USER, SVC)); // max(0, 3 - 4)
        final Result other = grant(USER, SVC, 10, Period.WEEK);
        ok(other);
        assertEquals(10, other.freeRemaining());
    }

    @Test
    void shouldRevokeFreeTierWithZeroAllowance()
    {
        ok(credit(USER, 100));
        ok(grant(USER, SVC, 10, Period.DAY));
        ok(grant(USER, SVC, 0, Period.DAY));
        assertEquals(0, free(USER, SVC));
        final Result r = deduct(USER, SVC, 5);
        ok(r);
        assertEquals(0, r.fromFree());
        assertEquals(5, r.fromBalance());
    }

    @Test
    void shouldReportNoFreeUnitsForServiceWithoutGrant()
    {
        ok(credit(USER, 100));
        assertEquals(0, free(USER, SVC));
        assertEquals(0, deduct(USER, SVC, 5).freeRemaining());
    }

    // ------------------------------------------------------------------------------------------------ holds

    @Test
    void shouldReturnPaidPartOnceOnRelease()
    {
        ok(credit(USER, 1000));
        final Result opened = reserve(1, USER, SVC, 100, HOUR);
        ok(opened);
        assertEquals(900, opened.balance());
        assertEquals(100, opened.held());
        final Result released = release(1);
        ok(released);
        assertEquals(100, released.returned());
        assertEquals(1000, released.balance(), "RELEASE must give the paid part back once");
        assertEquals(0, released.held());
        assertEquals(1000, balance(USER));
    }

    @Test
    void shouldSettleBelowHold()
    {
        ok(credit(USER, 1000));
        ok(grant(USER, SVC, 30, Period.DAY));
        final Result opened = reserve(1, USER, SVC, 100, HOUR);
        assertEquals(30, opened.fromFree());
        assertEquals(70, opened.fromBalance());
        assertEquals(930, opened.balance());
        final Result settled = settle(1, 40);
        ok(settled);
        assertEquals(30, settled.fromFree());
        assertEquals(10, settled.fromBalance());
        assertEquals(60, settled.returned());
        assertEquals(990, settled.balance());
        assertEquals(0, settled.held());
        assertEquals(0, settled.freeRemaining());
        assertEquals(0, settled.flags());
    }

    @Test
    void shouldSettleBelowFreePartAndReturnUnusedFreeUnits()
    {
        ok(credit(USER, 1000));
        ok(grant(USER, SVC, 30, Period.DAY));
        ok(reserve(1, USER, SVC, 100, HOUR));
        final Result settled = settle(1, 10);
        ok(settled);
        assertEquals(10, settled.fromFree());
        assertEquals(0, settled.fromBalance());
        assertEquals(90, settled.returned()); // 20 free + 70 paid
        assertEquals(1000, settled.balance());
        assertEquals(20, settled.freeRemaining());
    }

    @Test
    void shouldSettleEqualToHold()
    {
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 100, HOUR));
        final Result settled = settle(1, 100);
        ok(settled);
        assertEquals(0, settled.returned());
        assertEquals(100, settled.fromBalance());
        assertEquals(900, settled.balance());
        assertEquals(0, settled.held());
        assertEquals(0, settled.flags());
    }

    @Test
    void shouldChargeExcessFromFreeThenBalancePastCreditLimitOnFrozenAccount()
    {
        ok(credit(USER, 100));
        ok(setLimit(USER, 10));
        ok(grant(USER, SVC, 5, Period.DAY));
        ok(reserve(1, USER, SVC, 50, HOUR)); // 5 free, 45 paid -> balance 55
        ok(grant(USER, SVC, 25, Period.DAY)); // 20 more free units in this period
        ok(freeze(USER));
        final Result settled = settle(1, 250); // excess 200: 20 free, 180 paid
        ok(settled);
        assertTrue(settled.exceededHold());
        assertEquals(Result.FLAG_EXCEEDED_HOLD, settled.flags());
        assertEquals(25, settled.fromFree());
        assertEquals(225, settled.fromBalance());
        assertEquals(0, settled.returned());
        assertEquals(55 - 180, settled.balance()); // -125, past -creditLimit = -10
        assertEquals(0, settled.freeRemaining());
        assertTrue(settled.frozen());
    }

    @Test
    void shouldLoseFreeUnitsOfRolledPeriodOnSettle()
    {
        now = at("2024-03-13T23:30:00Z");
        ok(credit(USER, 1000));
        ok(grant(USER, SVC, 30, Period.DAY));
        ok(reserve(1, USER, SVC, 100, HOUR)); // 30 free, 70 paid
        now = at("2024-03-14T00:10:00Z");
        final Result released = release(1);
        ok(released);
        assertEquals(70, released.returned(), "free units of a rolled period are lost, not returned");
        assertEquals(1000, released.balance());
        assertEquals(30, released.freeRemaining()); // the new day's allowance, untouched
    }

    @Test
    void shouldNotReturnFreeUnitsToQuotaRegrantedWithAnotherPeriodType()
    {
        ok(credit(USER, 1000));
        ok(grant(USER, SVC, 30, Period.DAY));
        ok(reserve(1, USER, SVC, 20, HOUR)); // 20 free
        ok(grant(USER, SVC, 30, Period.WEEK)); // another period type: starts from 0
        ok(grant(USER, SVC, 0, Period.DAY)); // back to DAY, revoked: starts from 0 again
        final Result released = release(1);
        ok(released);
        assertEquals(0, released.returned(), "the hold's free units belong to a quota that was replaced");
        assertEquals(0, released.freeRemaining(), "a revoked quota gives no free units");
        assertEquals(0, free(USER, SVC));
        ok(grant(USER, SVC, 30, Period.DAY));
        assertTrue(free(USER, SVC) <= 30, "free remaining above the allowance: " + free(USER, SVC));
    }

    @Test
    void shouldExpireHoldOnTickWhileIdle()
    {
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 100, 1000));
        final long opened = now;
        now = opened + 999;
        assertFalse(ledger.hasDueHolds(now));
        ok(tick());
        assertEquals(1, ledger.openHoldCount());
        now = opened + 1000;
        assertTrue(ledger.hasDueHolds(now));
        outcomes.clear();
        ok(tick());
        assertEquals(List.of(OutcomeType.HOLD_EXPIRED), outcomeTypes());
        assertEquals(100, outcomes.get(0).returnedBalance());
        assertEquals(0x401D, outcomes.get(0).requestIdHi());
        assertEquals(1, outcomes.get(0).requestIdLo());
        assertEquals(0, ledger.openHoldCount());
        assertFalse(ledger.hasDueHolds(now));
        final Result q = query(USER, 0);
        assertEquals(1000, q.balance());
        assertEquals(0, q.held());
        rejected(HOLD_ALREADY_CLOSED, settle(1, 10));
    }

    @Test
    void shouldNotExpireDueHoldsOnOtherCommands()
    {
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 100, 1000));
        now += 5000;
        ok(deduct(USER, SVC, 1));
        assertEquals(1, ledger.openHoldCount());
        assertEquals(100, query(USER, 0).held());
    }

    @Test
    void shouldExpireAtMostConfiguredHoldsPerTickEarliestFirstThenByHoldId()
    {
        start(new LedgerConfig().maxExpiriesPerTick(2).maxHoldTtlMillis(HOUR).dedupeWindowMillis(2 * HOUR));
        ok(credit(USER, 1000));
        ok(run(new Command().op(Op.RESERVE).requestId(0, 2).userId(USER).serviceId(SVC).amount(1).ttlMillis(500)));
        ok(run(new Command().op(Op.RESERVE).requestId(0, 1).userId(USER).serviceId(SVC).amount(1).ttlMillis(500)));
        ok(run(new Command().op(Op.RESERVE).requestId(-1, 9).userId(USER).serviceId(SVC).amount(1).ttlMillis(500)));
        ok(run(new Command().op(Op.RESERVE).requestId(-5, 0).userId(USER).serviceId(SVC).amount(1).ttlMillis(700)));
        now += 1000;
        outcomes.clear();
        ok(tick());
        assertEquals(2, outcomes.size());
        assertEquals(-1, outcomes.get(0).requestIdHi());
        assertEquals(9, outcomes.get(0).requestIdLo());
        assertEquals(0, outcomes.get(1).requestIdHi());
        assertEquals(1, outcomes.get(1).requestIdLo());
        assertTrue(ledger.hasDueHolds(now));
        outcomes.clear();
        ok(tick());
        assertEquals(2, outcomes.size());
        assertEquals(2, outcomes.get(0).requestIdLo()); // expires at +500, before -5:0 at +700
        assertEquals(-5, outcomes.get(1).requestIdHi());
        assertFalse(ledger.hasDueHolds(now));
        assertEquals(1000, balance(USER));
    }

    @Test
    void shouldExpireDueHoldThenRejectSettle()
    {
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 100, 1000));
        now += 1000; // expiresAt <= now: due
        outcomes.clear();
        final Result r = settle(1, 50);
        rejected(HOLD_ALREADY_CLOSED, r);
        assertEquals(List.of(OutcomeType.HOLD_EXPIRED, OutcomeType.REJECTED), outcomeTypes());
        assertEquals(1000, balance(USER));
        assertEquals(0, query(USER, 0).held());
        assertEquals(0, ledger.openHoldCount());
        rejected(HOLD_ALREADY_CLOSED, release(1));
    }

    @Test
    void shouldRejectUnknownHoldAndForgetClosedHoldWithItsReserve()
    {
        ok(credit(USER, 1000));
        rejected(UNKNOWN_HOLD, settle(99, 1));
        rejected(UNKNOWN_HOLD, release(99));
        ok(reserve(1, USER, SVC, 100, HOUR));
        ok(release(1));
        rejected(HOLD_ALREADY_CLOSED, release(1));
        now += config.dedupeWindowMillis(); // the RESERVE is forgotten
        rejected(UNKNOWN_HOLD, release(1));
    }

    @Test
    void shouldTrackHeldAsSumOfOpenHolds()
    {
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 100, HOUR));
        ok(reserve(2, USER, SVC, 50, HOUR));
        assertEquals(150, query(USER, 0).held());
        assertEquals(80, settle(1, 20).returned());
        assertEquals(50, query(USER, 0).held());
        assertEquals(850 + 80, balance(USER));
    }

    // ------------------------------------------------------------------------------------------------ idempotency

    @Test
    void shouldReturnOriginalResultForDuplicateWithoutApplyingAgain()
    {
        ok(credit(USER, 1000));
        final Command c = cmd(Op.DEDUCT).userId(USER).serviceId(SVC).amount(100);
        final Result first = run(c);
        ok(first);
        ok(credit(USER, 5));
        outcomes.clear();
        now += 1000;
        final Result again = run(c);
        ok(again);
        assertTrue(again.duplicate());
        assertEquals(900, again.balance(), "the original result, not today's state");
        assertEquals(first.fromBalance(), again.fromBalance());
        assertEquals(905, balance(USER));
        assertTrue(outcomes.stream().noneMatch(o -> o.type() == OutcomeType.CHARGED));
    }

    @Test
    void shouldForgetRequestAfterWindowAge()
    {
        ok(credit(USER, 1000));
        final long accepted = now;
        final Command c = cmd(Op.DEDUCT).userId(USER).serviceId(SVC).amount(100);
        ok(run(c));
        now = accepted + config.dedupeWindowMillis() - 1;
        assertTrue(run(c).duplicate());
        assertEquals(900, balance(USER));
        now = accepted + config.dedupeWindowMillis();
        final Result fresh = run(c);
        ok(fresh);
        assertFalse(fresh.duplicate());
        assertEquals(800, fresh.balance());
    }

    @Test
    void shouldForgetOldestRequestBeyondWindowCount()
    {
        start(new LedgerConfig().dedupeWindowCount(3));
        ok(credit(USER, 1000));
        final Command c = cmd(Op.DEDUCT).userId(USER).serviceId(SVC).amount(100);
        ok(run(c)); // window: credit, c
        ok(credit(USER, 1)); // credit, c, 1
        assertTrue(run(c).duplicate());
        ok(credit(USER, 1)); // c, 1, 1 (first credit forgotten)
        assertTrue(run(c).duplicate());
        ok(credit(USER, 1)); // 1, 1, 1: c forgotten
        final Result fresh = run(c);
        ok(fresh);
        assertFalse(fresh.duplicate());
        assertEquals(1003 - 200, fresh.balance());
    }

    @Test
    void shouldRejectSameIdWithDifferentFields()
    {
        ok(credit(USER, 1000));
        final Command c = cmd(Op.DEDUCT).userId(USER).serviceId(SVC).amount(100);
        ok(run(c));
        rejected(REQUEST_ID_CONFLICT, run(new Command().copyFrom(c).amount(101)));
        rejected(REQUEST_ID_CONFLICT, run(new Command().copyFrom(c).serviceId(SVC + 1)));
        rejected(REQUEST_ID_CONFLICT, run(new Command().copyFrom(c).op(Op.CREDIT).serviceId(0)));
        assertEquals(900, balance(USER));
        // field checks come before the dedupe window
        rejected(INVALID_AMOUNT, run(new Command().copyFrom(c).amount(0)));
        rejected(INVALID_ARGUMENT, run(new Command().copyFrom(c).userId(0)));
    }

    @Test
    void shouldRejectReserveWhoseIdIsStillAnOpenHoldForgottenByWindow()
    {
        start(new LedgerConfig().dedupeWindowCount(2));
        ok(credit(USER, 1000));
        final Command r = reserveCmd(1, USER, SVC, 100, HOUR);
        ok(run(r));
        ok(credit(USER, 1));
        ok(credit(USER, 1)); // the RESERVE is forgotten, the hold is still open
        rejected(REQUEST_ID_CONFLICT, run(r));
        assertEquals(100, query(USER, 0).held());
        ok(settle(1, 100)); // an open hold is still known
    }

    @Test
    void shouldJudgeRetryOfRejectedDeductAfresh()
    {
        ok(credit(USER, 50));
        final Command c = cmd(Op.DEDUCT).userId(USER).serviceId(SVC).amount(100);
        rejected(INSUFFICIENT_FUNDS, run(c));
        rejected(INSUFFICIENT_FUNDS, run(c));
        ok(credit(USER, 60));
        final Result r = run(c);
        ok(r);
        assertFalse(r.duplicate());
        assertEquals(10, r.balance());
        assertTrue(run(c).duplicate());
    }

    @Test
    void shouldRememberSettleAndReleaseResults()
    {
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 100, HOUR));
        final Command s = cmd(Op.SETTLE).holdId(0x401D, 1).amount(30);
        final Result first = run(s);
        ok(first);
        final Result again = run(s);
        ok(again);
        assertTrue(again.duplicate());
        assertEquals(first.returned(), again.returned());
        assertEquals(first.balance(), again.balance());
    }

    // ------------------------------------------------------------------------------------------------ settings

    @Test
    void shouldRefuseChargesOnFrozenAccountButAllowCreditAndClosingHolds()
    {
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 100, HOUR));
        ok(reserve(2, USER, SVC, 100, HOUR));
        ok(freeze(USER));
        final Result again = freeze(USER); // idempotent setting
        ok(again);
        assertTrue(again.frozen());
        rejected(FROZEN, deduct(USER, SVC, 1));
        rejected(FROZEN, reserve(3, USER, SVC, 1, HOUR));
        ok(credit(USER, 10));
        ok(settle(1, 50));
        ok(release(2));
        assertEquals(1000 + 10 - 50, balance(USER));
        ok(unfreeze(USER));
        ok(unfreeze(USER));
        ok(deduct(USER, SVC, 1));
        assertFalse(query(USER, 0).frozen());
    }

    @Test
    void shouldCheckFrozenBeforeFunds()
    {
        ok(credit(USER, 1));
        ok(freeze(USER));
        rejected(FROZEN, deduct(USER, SVC, 1_000_000));
    }

    @Test
    void shouldChargeIntoDebtDownToCreditLimitNotBeyond()
    {
        ok(credit(USER, 100));
        ok(setLimit(USER, 50));
        rejected(INSUFFICIENT_FUNDS, deduct(USER, SVC, 151));
        assertEquals(100, balance(USER), "all or nothing");
        final Result r = deduct(USER, SVC, 150);
        ok(r);
        assertEquals(-50, r.balance());
        assertEquals(50, r.creditLimit());
        rejected(INSUFFICIENT_FUNDS, deduct(USER, SVC, 1));
        rejected(INSUFFICIENT_FUNDS, reserve(1, USER, SVC, 1, HOUR));
        ok(setLimit(USER, 0)); // lowering the limit below the debt is accepted
        assertEquals(-50, balance(USER));
        rejected(INSUFFICIENT_FUNDS, deduct(USER, SVC, 1));
    }

    @Test
    void shouldUseFreeUnitsBeforeBalanceAllOrNothing()
    {
        ok(credit(USER, 10));
        ok(grant(USER, SVC, 5, Period.DAY));
        rejected(INSUFFICIENT_FUNDS, deduct(USER, SVC, 16));
        assertEquals(5, free(USER, SVC), "a refused charge takes no free units");
        final Result r = deduct(USER, SVC, 15);
        ok(r);
        assertEquals(5, r.fromFree());
        assertEquals(10, r.fromBalance());
        assertEquals(0, r.balance());
    }

    @Test
    void shouldRejectUnknownAccount()
    {
        rejected(UNKNOWN_ACCOUNT, deduct(USER, SVC, 1));
        rejected(UNKNOWN_ACCOUNT, reserve(1, USER, SVC, 1, HOUR));
        rejected(UNKNOWN_ACCOUNT, setLimit(USER, 1));
        rejected(UNKNOWN_ACCOUNT, freeze(USER));
        rejected(UNKNOWN_ACCOUNT, unfreeze(USER));
        rejected(UNKNOWN_ACCOUNT, query(USER, 0));
        assertEquals(0, ledger.accountCount());
        ok(grant(USER, SVC, 1, Period.DAY)); // GRANT opens the account
        assertEquals(1, ledger.accountCount());
        assertEquals(0, balance(USER));
    }

    // ------------------------------------------------------------------------------------------------ limits

    @Test
    void shouldRejectCreditPastLongMaxValue()
    {
        ok(credit(USER, Long.MAX_VALUE - 10));
        rejected(AMOUNT_OVERFLOW, credit(USER, 11));
        final Result r = credit(USER, 10);
        ok(r);
        assertEquals(Long.MAX_VALUE, r.balance());
        rejected(AMOUNT_OVERFLOW, credit(USER, 1));
        rejected(AMOUNT_OVERFLOW, credit(USER, Long.MAX_VALUE));
    }

    @Test
    void shouldRefuseCreditThatLeavesNoRoomForOpenHoldsToComeBack()
    {
        // docs/semantics.md is silent on an expiry that would overflow; Ledger refuses such a CREDIT up front
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 100, HOUR)); // balance 900, held 100
        rejected(AMOUNT_OVERFLOW, credit(USER, Long.MAX_VALUE - 999));
        ok(credit(USER, Long.MAX_VALUE - 1000));
        ok(release(1));
        assertEquals(Long.MAX_VALUE, balance(USER));
    }

    @Test
    void shouldRejectHeldTotalPastLongMaxValue()
    {
        ok(grant(USER, SVC, Long.MAX_VALUE, Period.MONTH)); // opens the account
        ok(setLimit(USER, Long.MAX_VALUE));
        ok(reserve(1, USER, SVC, Long.MAX_VALUE - 5, HOUR)); // all free
        final Result r = reserve(2, USER, SVC, 6, HOUR);
        rejected(AMOUNT_OVERFLOW, r);
        ok(reserve(3, USER, SVC, 5, HOUR));
        assertEquals(Long.MAX_VALUE, query(USER, 0).held());
    }

    @Test
    void shouldRejectExpiryTimePastLongMaxValue()
    {
        ok(credit(USER, 1000));
        now = Long.MAX_VALUE - 10;
        rejected(AMOUNT_OVERFLOW, reserve(1, USER, SVC, 1, 11));
        ok(reserve(2, USER, SVC, 1, 10));
    }

    @Test
    void shouldRejectExcessChargeThatWouldTakeBalancePastLongMinValue()
    {
        start(new LedgerConfig().maxSettleExcess(Long.MAX_VALUE)); // no settle cap: only 64 bits bound the excess
        ok(credit(USER, 10));
        ok(reserve(1, USER, SVC, 10, HOUR)); // balance 0
        final Result first = settle(1, Long.MAX_VALUE); // excess MAX - 10, charged even past the limit
        ok(first);
        assertEquals(-(Long.MAX_VALUE - 10), first.balance());
        ok(setLimit(USER, Long.MAX_VALUE)); // 10 available
        ok(reserve(2, USER, SVC, 5, HOUR)); // balance -(MAX - 5)
        rejected(AMOUNT_OVERFLOW, settle(2, Long.MAX_VALUE));
        assertEquals(-(Long.MAX_VALUE - 5), balance(USER));
        assertEquals(1, ledger.openHoldCount());
        ok(release(2));
        assertEquals(-(Long.MAX_VALUE - 10), balance(USER));
    }

    @Test
    void shouldRejectNewAccountBeyondCapacity()
    {
        start(new LedgerConfig().maxAccounts(2));
        ok(credit(1, 1));
        ok(grant(2, SVC, 1, Period.DAY));
        final long checksum = ledger.checksum();
        rejected(CAPACITY_EXCEEDED, credit(3, 1));
        rejected(CAPACITY_EXCEEDED, grant(3, SVC, 1, Period.DAY));
        assertEquals(checksum, ledger.checksum(), "a rejection changes nothing");
        ok(credit(1, 1)); // existing accounts still work
        assertEquals(2, ledger.accountCount());
    }

    @Test
    void shouldRejectReserveBeyondOpenHoldCapacity()
    {
        start(new LedgerConfig().maxOpenHolds(2));
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 1, HOUR));
        ok(reserve(2, USER, SVC, 1, HOUR));
        final Result refused = reserve(3, USER, SVC, 1, HOUR);
        rejected(CAPACITY_EXCEEDED, refused);
        assertEquals(998, refused.balance());
        assertEquals(2, refused.held());
        assertEquals(998, balance(USER));
        ok(release(1));
        ok(reserve(3, USER, SVC, 1, HOUR));
    }

    @Test
    void shouldRejectNewFreeQuotaBeyondCapacity()
    {
        start(new LedgerConfig().maxAccounts(10).maxFreeQuotas(2));
        ok(grant(1, 1, 10, Period.DAY));
        ok(credit(2, 100));
        ok(grant(2, 1, 10, Period.DAY));
        final long checksum = ledger.checksum();
        outcomes.clear();
        rejected(CAPACITY_EXCEEDED, grant(2, 2, 10, Period.DAY)); // a new quota of an existing account
        rejected(CAPACITY_EXCEEDED, grant(3, 1, 10, Period.DAY)); // a new account would bring a new quota
        assertEquals(checksum, ledger.checksum(), "a rejection changes nothing");
        assertEquals(List.of(OutcomeType.REJECTED, OutcomeType.REJECTED), outcomeTypes());
        assertEquals(CAPACITY_EXCEEDED, outcomes.get(0).code());
        assertEquals(2, ledger.accountCount());
        assertEquals(2, ledger.freeQuotaCount());
        ok(grant(1, 1, 0, Period.WEEK)); // existing quotas can still be changed, even revoked
        ok(grant(2, 1, 20, Period.DAY));
        assertEquals(20, free(2, 1));
        ok(credit(3, 1)); // and accounts opened without a quota
        assertEquals(2, ledger.freeQuotaCount());
    }

    @Test
    void shouldRejectSettleBeyondTheSettleCapAndKeepTheHoldOpen()
    {
        start(new LedgerConfig().maxSettleExcess(50));
        ok(credit(USER, 1000));
        ok(reserve(1, USER, SVC, 10, HOUR)); // cap: 10 + max(10, 50) = 60
        ok(reserve(2, USER, SVC, 100, HOUR)); // cap: 100 + max(100, 50) = 200
        final long checksum = ledger.checksum();
        outcomes.clear();
        final Result refused = settle(1, 61);
        rejected(INVALID_AMOUNT, refused);
        assertEquals(890, refused.balance(), "the rejection reports the hold's account");
        assertEquals(110, refused.held());
        rejected(INVALID_AMOUNT, settle(2, 201));
        assertEquals(checksum, ledger.checksum(), "a rejection changes nothing");
        assertEquals(List.of(OutcomeType.REJECTED, OutcomeType.REJECTED), outcomeTypes());
        assertEquals(INVALID_AMOUNT, outcomes.get(0).code());
        assertEquals(2, ledger.openHoldCount());

        final Result first = settle(1, 60);
        ok(first);
        assertTrue(first.exceededHold());
        assertEquals(840, first.balance());
        final Result second = settle(2, 200);
        ok(second);
        assertEquals(740, second.balance());
        assertEquals(0, second.held());
    }

    @Test
    void shouldCapSettleOfOneUnitHoldByDefault()
    {
        start(new LedgerConfig());
        ok(credit(USER, 10));
        ok(reserve(1, USER, SVC, 1, HOUR));
        rejected(INVALID_AMOUNT, settle(1, 9_000_000_000_000_000_000L));
        rejected(INVALID_AMOUNT, settle(1, 1 + LedgerConfig.DEFAULT_MAX_SETTLE_EXCESS + 1));
        final Result settled = settle(1, 1 + LedgerConfig.DEFAULT_MAX_SETTLE_EXCESS);
        ok(settled);
        assertEquals(10 - 1 - LedgerConfig.DEFAULT_MAX_SETTLE_EXCESS, settled.balance());
    }

    @Test
    void shouldRejectReserveLongerThanTheMaximumHoldTtl()
    {
        assertEquals(HOUR, new LedgerConfig().maxHoldTtlMillis(), "one hour unless configured");
        start(new LedgerConfig().maxHoldTtlMillis(5 * 60_000L));
        ok(credit(USER, 100));
        final Result refused = reserve(1, USER, SVC, 10, 5 * 60_000L + 1);
        rejected(INVALID_ARGUMENT, refused);
        assertEquals(100, refused.balance());
        assertEquals(0, ledger.openHoldCount());
        ok(reserve(1, USER, SVC, 10, 5 * 60_000L));
        assertThrows(IllegalArgumentException.class,
            () -> new LedgerConfig().dedupeWindowMillis(HOUR).maxHoldTtlMillis(HOUR + 1).validate(),
            "a hold may not outlive the dedupe window");
    }

    @Test
    void shouldReportTheAccountStateOnRejections()
    {
        ok(credit(USER, 100));
        ok(setLimit(USER, 20));
        ok(grant(USER, SVC, 5, Period.DAY));
        ok(reserve(1, USER, SVC, 30, HOUR)); // 5 free, 25 paid: balance 75, held 30

        final Result funds = deduct(USER, SVC, 1_000);
        rejected(INSUFFICIENT_FUNDS, funds);
        assertState(funds, 75, 30, 20, 0, false);
        assertEquals(0, funds.fromFree());
        assertEquals(0, funds.fromBalance());
        assertEquals(0, funds.returned());
        assertEquals(0, funds.flags());
        assertState(run(cmd(Op.DEDUCT).userId(USER).serviceId(SVC).amount(0)), 75, 30, 20, 0, false);
        assertState(query(USER, -1), 75, 30, 20, 0, false);

        final Command original = cmd(Op.CREDIT).userId(USER).amount(1);
        ok(run(original)); // balance 76
        final Result conflict = run(new Command().copyFrom(original).amount(2));
        rejected(REQUEST_ID_CONFLICT, conflict);
        assertState(conflict, 76, 30, 20, 0, false);

        ok(freeze(USER));
        final Result frozen = deduct(USER, SVC, 1);
        rejected(FROZEN, frozen);
        assertState(frozen, 76, 30, 20, 0, true);
        ok(unfreeze(USER));

        // SETTLE and RELEASE report the account of their hold
        rejected(INVALID_AMOUNT, settle(1, -1));
        assertState(settle(1, -1), 76, 30, 20, 0, false);
        now += HOUR; // the hold is due: the settle expires it, then is refused; the state is after the expiry
        final Result due = settle(1, 10);
        rejected(HOLD_ALREADY_CLOSED, due);
        assertState(due, 101, 0, 20, 5, false); // the hold's 5 free units are back too

        // nothing to report: no such account, no such hold, or a hold closed before
        assertState(deduct(USER + 1, SVC, 1), 0, 0, 0, 0, false);
        assertState(release(1), 0, 0, 0, 0, false);
        assertState(release(99), 0, 0, 0, 0, false);
        assertState(run(cmd(Op.RELEASE).holdId(0, 0)), 0, 0, 0, 0, false);
    }

    @Test
    void shouldReportFreeRemainingOfTheServiceOnRejections()
    {
        ok(grant(USER, SVC, 5, Period.DAY));
        final Result r = deduct(USER, SVC, 6); // 5 free, 1 paid from a balance of 0
        rejected(INSUFFICIENT_FUNDS, r);
        assertState(r, 0, 0, 0, 5, false);
    }

    private static void assertState(
        final Result r,
        final long balance,
        final long held,
        final long creditLimit,
        final long freeRemaining,
        final boolean frozen)
    {
        assertFalse(r.accepted(), r.toString());
        assertEquals(balance, r.balance(), "balance: " + r);
        assertEquals(held, r.held(), "held: " + r);
        assertEquals(creditLimit, r.creditLimit(), "creditLimit: " + r);
        assertEquals(freeRemaining, r.freeRemaining(), "freeRemaining: " + r);
        assertEquals(frozen, r.frozen(), "frozen: " + r);
    }

    @Test
    void shouldRejectFieldsOutOfRangeBeforeAmounts()
    {
        ok(credit(USER, 1000));
        rejected(INVALID_ARGUMENT, run(cmd(Op.DEDUCT).userId(USER).serviceId(SVC).amount(1).requestId(0, 0)));
        rejected(INVALID_ARGUMENT, deduct(0, SVC, 1));
        rejected(INVALID_ARGUMENT, deduct(-1, SVC, 1));
        rejected(INVALID_ARGUMENT, deduct(USER, 0, 1));
        rejected(INVALID_ARGUMENT, deduct(USER, -3, 1));
        rejected(INVALID_ARGUMENT, deduct(0, SVC, 0)); // both wrong: the field first
        rejected(INVALID_AMOUNT, deduct(USER, SVC, 0));
        rejected(INVALID_AMOUNT, deduct(USER, SVC, -5));
        rejected(INVALID_AMOUNT, deduct(USER, SVC, Long.MIN_VALUE));
        rejected(INVALID_ARGUMENT, reserve(1, USER, SVC, 1, 0));
        rejected(INVALID_ARGUMENT, reserve(1, USER, SVC, 1, -1));
        rejected(INVALID_ARGUMENT, reserve(1, USER, SVC, 1, config.maxHoldTtlMillis() + 1));
        rejected(INVALID_ARGUMENT, reserve(1, USER, 0, 1, HOUR));
        rejected(INVALID_AMOUNT, reserve(1, USER, SVC, 0, HOUR));
        ok(reserve(1, USER, SVC, 1, config.maxHoldTtlMillis()));
        rejected(INVALID_ARGUMENT, run(cmd(Op.SETTLE).holdId(0, 0).amount(1)));
        rejected(INVALID_ARGUMENT, run(cmd(Op.RELEASE).holdId(0, 0)));
        rejected(INVALID_AMOUNT, settle(1, -1));
        rejected(INVALID_AMOUNT, credit(USER, 0));
        rejected(INVALID_AMOUNT, credit(USER, -1));
        rejected(INVALID_ARGUMENT, credit(0, 1));
        rejected(INVALID_ARGUMENT, grant(USER, SVC, 1, null));
        rejected(INVALID_ARGUMENT, grant(USER, 0, 1, Period.DAY));
        rejected(INVALID_AMOUNT, grant(USER, SVC, -1, Period.DAY));
        rejected(INVALID_AMOUNT, setLimit(USER, -1));
        rejected(INVALID_ARGUMENT, setLimit(0, 1));
        rejected(INVALID_ARGUMENT, freeze(-7));
        rejected(INVALID_ARGUMENT, unfreeze(0));
        rejected(INVALID_ARGUMENT, query(0, 0));
        rejected(INVALID_ARGUMENT, query(USER, -1));
        ok(settle(1, 0)); // actual 0 is allowed
        ok(grant(USER, SVC, 0, Period.DAY)); // allowance 0 is allowed
        ok(setLimit(USER, 0)); // limit 0 is allowed
        assertEquals(1000, balance(USER));
    }

    @Test
    void shouldAnswerQueryReadOnly()
    {
        ok(credit(USER, 100));
        ok(setLimit(USER, 7));
        ok(grant(USER, SVC, 9, Period.WEEK));
        ok(reserve(1, USER, SVC, 20, HOUR));
        outcomes.clear();
        final long checksum = ledger.checksum();
        final Result q = query(USER, SVC);
        ok(q);
        assertEquals(89, q.balance());
        assertEquals(20, q.held());
        assertEquals(7, q.creditLimit());
        assertEquals(0, q.freeRemaining());
        assertFalse(q.frozen());
        assertEquals(0, query(USER, 0).freeRemaining());
        assertTrue(outcomes.isEmpty());
        assertEquals(checksum, ledger.checksum());
    }
}
