package io.quotaledger.core;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static io.quotaledger.core.ResultCode.AMOUNT_OVERFLOW;
import static io.quotaledger.core.ResultCode.CAPACITY_EXCEEDED;
import static io.quotaledger.core.ResultCode.CONCURRENCY_LIMITED;
import static io.quotaledger.core.ResultCode.INSUFFICIENT_FUNDS;
import static io.quotaledger.core.ResultCode.INVALID_AMOUNT;
import static io.quotaledger.core.ResultCode.INVALID_ARGUMENT;
import static io.quotaledger.core.ResultCode.OK;
import static io.quotaledger.core.ResultCode.RATE_LIMITED;
import static io.quotaledger.core.ResultCode.SERVICE_NOT_ALLOWED;
import static io.quotaledger.core.ResultCode.SPEND_WINDOW_EXCEEDED;
import static io.quotaledger.core.ResultCode.UNKNOWN_ACCOUNT;
import static io.quotaledger.core.ResultCode.UNKNOWN_VIRTUAL_KEY;
import static io.quotaledger.core.ResultCode.VIRTUAL_KEY_BUDGET_EXCEEDED;
import static io.quotaledger.core.ResultCode.VIRTUAL_KEY_EXPIRED;
import static io.quotaledger.core.ResultCode.VIRTUAL_KEY_REVOKED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gateway policy, one rule at a time, against the "Gateway policy" section of docs/semantics.md.
 */
class LedgerPolicyTest
{
    private static final long USER = 42;
    private static final long OTHER_USER = 43;
    private static final long KEY = 9001;
    private static final int SVC = 7;
    private static final long SECOND = 1_000L;
    private static final long HOUR = 3_600_000L;
    private static final long DAY = 24 * HOUR;

    private LedgerConfig config;
    private Ledger ledger;
    private final List<Outcome> outcomes = new ArrayList<>();
    private long now;
    private long ids;

    @BeforeEach
    void setUp()
    {
        start(new LedgerConfig().expectedAccounts(16).maxOpenHolds(100).dedupeWindowCount(1000)
            .dedupeWindowMillis(2 * DAY).maxHoldTtlMillis(HOUR));
    }

    private void start(final LedgerConfig config)
    {
        outcomes.clear();
        this.config = config;
        ledger = new Ledger(config, outcome ->
        {
            final UnsafeBuffer buffer = new UnsafeBuffer(new byte[Outcome.LENGTH]);
            outcome.encode(buffer, 0);
            final Outcome copy = new Outcome();
            assertTrue(copy.decode(buffer, 0));
            outcomes.add(copy);
        });
        now = Instant.parse("2024-03-13T12:00:00Z").toEpochMilli();
        credit(USER, 1_000_000);
        credit(OTHER_USER, 1_000_000);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private Command cmd(final Op op)
    {
        return new Command().op(op).timestamp(now).requestId(0x9011C7, ++ids);
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

    private Result deduct(final long user, final long key, final long amount)
    {
        return run(cmd(Op.DEDUCT).userId(user).serviceId(SVC).virtualKeyId(key).amount(amount));
    }

    private Result deductUnits(final long user, final int service, final long units)
    {
        return run(cmd(Op.DEDUCT).userId(user).serviceId(service).units(units));
    }

    private Result reserve(final long holdLo, final long key, final long amount)
    {
        return run(new Command().op(Op.RESERVE).requestId(0x401D, holdLo).userId(USER).serviceId(SVC)
            .virtualKeyId(key).amount(amount).ttlMillis(HOUR));
    }

    private Result settle(final long holdLo, final long actual)
    {
        return run(cmd(Op.SETTLE).holdId(0x401D, holdLo).amount(actual));
    }

    private Result release(final long holdLo)
    {
        return run(cmd(Op.RELEASE).holdId(0x401D, holdLo));
    }

    private Result setKey(final long user, final long key, final long budget)
    {
        return run(cmd(Op.SET_VIRTUAL_KEY).userId(user).virtualKeyId(key).amount(budget));
    }

    private Result query(final long key, final int service)
    {
        return run(new Command().op(Op.QUERY).userId(USER).serviceId(service).virtualKeyId(key));
    }

    private Result rateLimit(final long key, final long requests, final long units, final long perMillis)
    {
        return run(cmd(Op.SET_RATE_LIMIT).userId(USER).virtualKeyId(key).requests(requests).units(units)
            .perMillis(perMillis));
    }

    private Result window(final long key, final long max, final long perMillis)
    {
        return run(cmd(Op.SET_SPEND_WINDOW).userId(USER).virtualKeyId(key).amount(max).perMillis(perMillis));
    }

    private long balance()
    {
        return query(0, 0).balance();
    }

    private static void assertCode(final ResultCode expected, final Result r)
    {
        assertEquals(expected, r.code(), r.toString());
    }

    private static void assertCode(final ResultCode expected, final Result r, final String why)
    {
        assertEquals(expected, r.code(), why + ": " + r);
    }

    private List<OutcomeType> typesSince(final int from)
    {
        final List<OutcomeType> types = new ArrayList<>();
        for (int i = from; i < outcomes.size(); i++)
        {
            types.add(outcomes.get(i).type());
        }
        return types;
    }

    // ------------------------------------------------------------------------------------------------ virtual keys

    @Test
    void shouldChargeTheKeyBudgetAndTheUserFundsInOneStep()
    {
        assertCode(OK, setKey(USER, KEY, 100));
        final Result first = deduct(USER, KEY, 60);
        assertCode(OK, first);
        assertEquals(KEY, first.virtualKeyId());
        assertEquals(60, first.amount());
        assertEquals(60, first.keySpent());
        assertEquals(40, first.keyBudgetRemaining());
        assertEquals(1_000_000 - 60, first.balance());

        final Result refused = deduct(USER, KEY, 41);
        assertCode(VIRTUAL_KEY_BUDGET_EXCEEDED, refused);
        assertEquals(60, refused.keySpent(), "a refusal shows the key that refused it");
        assertEquals(40, refused.keyBudgetRemaining());
        assertEquals(1_000_000 - 60, balance(), "nothing charged");
        assertCode(OK, deduct(USER, KEY, 40));
        assertEquals(0, query(KEY, 0).keyBudgetRemaining());
    }

    @Test
    void shouldRefuseKeysThatAreUnknownOfAnotherUserRevokedExpiredOrWithoutTheService()
    {
        assertCode(UNKNOWN_VIRTUAL_KEY, deduct(USER, KEY, 1));
        assertCode(OK, setKey(OTHER_USER, KEY, 100));
        assertCode(UNKNOWN_VIRTUAL_KEY, deduct(USER, KEY, 1));
        assertCode(INVALID_ARGUMENT, setKey(USER, KEY, 5)); // a key id belongs to the user that set it first

        assertCode(OK, run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY + 1).unlimited(true)
            .expiresAt(now + SECOND).addService(SVC + 1).addService(SVC)));
        assertCode(OK, deduct(USER, KEY + 1, 5));
        assertCode(SERVICE_NOT_ALLOWED,
            run(cmd(Op.DEDUCT).userId(USER).serviceId(SVC + 2).virtualKeyId(KEY + 1).amount(1)));
        now += SECOND - 1;
        assertCode(OK, deduct(USER, KEY + 1, 5));
        now += 1;
        final Result expired = deduct(USER, KEY + 1, 5);
        assertCode(VIRTUAL_KEY_EXPIRED, expired);
        assertTrue(expired.keyExpired());

        assertCode(OK, setKey(USER, KEY + 2, 100));
        assertCode(OK, run(cmd(Op.REVOKE_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY + 2)));
        assertCode(VIRTUAL_KEY_REVOKED, deduct(USER, KEY + 2, 1));
        assertCode(VIRTUAL_KEY_REVOKED, setKey(USER, KEY + 2, 100)); // revocation is final
        assertCode(OK, run(cmd(Op.REVOKE_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY + 2))); // idempotent
        assertTrue(query(KEY + 2, 0).keyRevoked());
        assertCode(UNKNOWN_ACCOUNT, setKey(777, KEY + 3, 1));
    }

    @Test
    void shouldValidateKeySettings()
    {
        assertCode(INVALID_ARGUMENT, run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(1)
            .resetPeriod(Period.DAY).resetMillis(HOUR)));
        assertCode(INVALID_ARGUMENT, run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(1)
            .resetMillis(LedgerConfig.MAX_POLICY_DURATION_MILLIS + 1)));
        final Command tooMany = cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(1);
        for (int s = 1; s <= Command.MAX_SERVICES + 1; s++)
        {
            tooMany.addService(s);
        }
        assertCode(INVALID_ARGUMENT, run(tooMany));
        assertCode(INVALID_ARGUMENT, run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(1)
            .addService(0)));
        assertCode(INVALID_AMOUNT, setKey(USER, KEY, -1));
        assertCode(INVALID_AMOUNT, run(cmd(Op.DEDUCT).userId(USER).serviceId(SVC).amount(5).units(5)));
        assertCode(INVALID_AMOUNT, run(cmd(Op.DEDUCT).userId(USER).serviceId(SVC)));
        assertCode(INVALID_ARGUMENT, run(cmd(Op.DEDUCT).userId(USER).serviceId(SVC).virtualKeyId(-1).amount(5)));
        assertEquals(0, ledger.virtualKeyCount());
    }

    @Test
    void shouldResetTheKeyBudgetEveryCalendarPeriodOrDuration()
    {
        now = Instant.parse("2024-03-13T23:59:59Z").toEpochMilli();
        assertCode(OK, run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(10).resetPeriod(Period.DAY)));
        assertCode(OK, deduct(USER, KEY, 10));
        assertCode(VIRTUAL_KEY_BUDGET_EXCEEDED, deduct(USER, KEY, 1));
        now += SECOND; // midnight UTC
        assertEquals(0, query(KEY, 0).keySpent());
        assertCode(OK, deduct(USER, KEY, 10));

        // a duration is anchored at the SET_VIRTUAL_KEY that set it: periods [anchor + k * D, anchor + (k + 1) * D)
        final long anchor = now + 123;
        now = anchor;
        assertCode(OK, run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY + 1).amount(10).resetMillis(HOUR)));
        assertCode(OK, deduct(USER, KEY + 1, 10));
        now = anchor + HOUR - 1;
        assertCode(VIRTUAL_KEY_BUDGET_EXCEEDED, deduct(USER, KEY + 1, 1));
        now = anchor + HOUR;
        assertCode(OK, deduct(USER, KEY + 1, 10));
    }

    @Test
    void shouldKeepTheSpendWhenTheResetStaysAndStartOverWhenItChanges()
    {
        assertCode(OK, run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(100).resetMillis(HOUR)));
        assertCode(OK, deduct(USER, KEY, 70));
        now += 10 * SECOND;
        final Result raised = run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(200)
            .resetMillis(HOUR));
        assertEquals(70, raised.keySpent());
        assertEquals(130, raised.keyBudgetRemaining());
        assertEquals(200, raised.amount());
        final Result changed = run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(200)
            .resetPeriod(Period.WEEK));
        assertEquals(0, changed.keySpent());
        final Result unlimited = run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).unlimited(true)
            .resetPeriod(Period.WEEK));
        assertEquals(-1, unlimited.amount());
        assertEquals(-1, unlimited.keyBudgetRemaining());
        assertCode(OK, deduct(USER, KEY, 500));
        assertEquals(500, query(KEY, 0).keySpent(), "an unlimited key still counts its spend");
    }

    @Test
    void shouldApplyABudgetPerServiceOfTheKey()
    {
        assertCode(OK, setKey(USER, KEY, 100));
        final Result set = run(cmd(Op.SET_VIRTUAL_KEY_SERVICE_BUDGET).userId(USER).virtualKeyId(KEY).serviceId(SVC)
            .amount(30));
        assertCode(OK, set);
        assertEquals(30, set.keyBudgetRemaining(), "the lesser of the key's and the service's");
        assertCode(OK, deduct(USER, KEY, 25));
        assertCode(VIRTUAL_KEY_BUDGET_EXCEEDED, deduct(USER, KEY, 6));
        assertCode(OK, run(cmd(Op.DEDUCT).userId(USER).serviceId(SVC + 1).virtualKeyId(KEY).amount(70)));
        assertEquals(5, query(KEY, SVC).keyBudgetRemaining());
        assertEquals(5, query(KEY, SVC + 1).keyBudgetRemaining());
        assertCode(OK, run(cmd(Op.SET_VIRTUAL_KEY_SERVICE_BUDGET).userId(USER).virtualKeyId(KEY).serviceId(SVC)
            .amount(-1)));
        assertCode(OK, deduct(USER, KEY, 5));
        assertCode(UNKNOWN_VIRTUAL_KEY, run(cmd(Op.SET_VIRTUAL_KEY_SERVICE_BUDGET).userId(USER).virtualKeyId(KEY + 1)
            .serviceId(SVC).amount(1)));
        assertEquals(1, ledger.serviceBudgetCount());
    }

    @Test
    void shouldGiveUnusedHoldsBackToTheKeyOnlyInThePeriodThatCountedThem()
    {
        now = Instant.parse("2024-03-13T23:30:00Z").toEpochMilli();
        assertCode(OK, run(cmd(Op.SET_VIRTUAL_KEY).userId(USER).virtualKeyId(KEY).amount(100).resetPeriod(Period.DAY)));
        final Result held = reserve(1, KEY, 80);
        assertCode(OK, held);
        assertEquals(80, held.keySpent());
        assertCode(VIRTUAL_KEY_BUDGET_EXCEEDED, deduct(USER, KEY, 21));
        final Result settled = settle(1, 30);
        assertCode(OK, settled);
        assertEquals(30, settled.keySpent(), "the unused 50 went back");
        assertEquals(KEY, settled.virtualKeyId());

        assertCode(OK, reserve(2, KEY, 50));
        assertEquals(80, query(KEY, 0).keySpent());
        now += 40 * 60 * SECOND; // the next day, the hold still open
        final Result released = release(2);
        assertCode(OK, released);
        assertEquals(0, released.keySpent(), "yesterday's hold gives nothing back to today");

        assertCode(OK, reserve(3, KEY, 90));
        final Result over = settle(3, 120);
        assertCode(OK, over);
        assertEquals(120, over.keySpent(), "the excess counts, even past the budget");
        assertCode(VIRTUAL_KEY_BUDGET_EXCEEDED, deduct(USER, KEY, 1));
    }

    @Test
    void shouldReturnToTheKeyBudgetWhenAHoldExpires()
    {
        assertCode(OK, setKey(USER, KEY, 100));
        assertCode(OK, run(new Command().op(Op.RESERVE).requestId(0x401D, 1).userId(USER).serviceId(SVC)
            .virtualKeyId(KEY).amount(100).ttlMillis(SECOND)));
        assertCode(VIRTUAL_KEY_BUDGET_EXCEEDED, deduct(USER, KEY, 1));
        now += SECOND;
        final int from = outcomes.size();
        run(new Command().op(Op.TICK));
        assertEquals(List.of(OutcomeType.HOLD_EXPIRED, OutcomeType.POLICY_APPLIED), typesSince(from));
        assertEquals(0, outcomes.get(outcomes.size() - 1).keySpentAfter());
        assertCode(OK, deduct(USER, KEY, 100));
    }

    // ------------------------------------------------------------------------------------------------ prices

    @Test
    void shouldPriceUnitsByTheUsersGroupRoundingUp()
    {
        final Result plain = deductUnits(USER, SVC, 3);
        assertCode(OK, plain);
        assertEquals(3, plain.amount(), "no price: 1.0");
        assertEquals(3, plain.units());

        assertCode(OK, run(cmd(Op.SET_PRICE).groupId(5).serviceId(SVC).multiplier(1_500_000)));
        assertCode(OK, run(cmd(Op.SET_PRICE).groupId(5).serviceId(0).multiplier(2_000_000)));
        assertEquals(3, deductUnits(USER, SVC, 3).amount(), "the user is still in group 0");
        assertCode(OK, run(cmd(Op.SET_GROUP).userId(USER).groupId(5)));
        final Result priced = deductUnits(USER, SVC, 3);
        assertEquals(5, priced.amount(), "ceil(3 * 1.5)");
        assertEquals(5, priced.fromBalance());
        assertEquals(6, deductUnits(USER, SVC + 1, 3).amount(), "the group's default");
        assertCode(OK, run(cmd(Op.SET_PRICE).groupId(5).serviceId(SVC).multiplier(1)));
        assertEquals(1, deductUnits(USER, SVC, 3).amount(), "ceil(3 * 0.000001): the new price, next request");
        assertCode(OK, run(cmd(Op.SET_GROUP).userId(USER).groupId(0)));
        assertEquals(3, deductUnits(USER, SVC, 3).amount());
        assertCode(INVALID_ARGUMENT, run(cmd(Op.SET_PRICE).groupId(5).serviceId(SVC).multiplier(0)));
    }

    /**
     * A user whose only policy is a group keeps it in its account record (a priced charge waits for no limits
     * record); its first other limit moves the group into a new limits record. Both layouts survive a snapshot, and
     * a version 2 snapshot (every group in a limits record) still loads.
     */
    @Test
    void shouldKeepAGroupOnlyUsersGroupInItsAccountUntilItHasOtherLimits()
    {
        final int group = Integer.MAX_VALUE; // every bit a group id may have, next to the open holds
        assertCode(OK, run(cmd(Op.SET_PRICE).groupId(group).serviceId(0).multiplier(2_000_000)));
        assertCode(OK, run(cmd(Op.SET_GROUP).userId(USER).groupId(group)));
        assertCode(OK, reserve(1, 0, 10));
        assertEquals(0, ledger.limitsRecordCount(), "a group alone needs no limits record");
        assertEquals(6, deductUnits(USER, SVC, 3).amount());
        assertRestoresAlike(Ledger.SNAPSHOT_VERSION, 6);

        assertCode(OK, run(cmd(Op.SET_CONCURRENCY).userId(USER).amount(2)));
        assertEquals(1, ledger.limitsRecordCount());
        assertEquals(6, deductUnits(USER, SVC, 3).amount(), "the group moved with the record");
        assertCode(OK, reserve(2, 0, 10));
        assertCode(CONCURRENCY_LIMITED, reserve(3, 0, 10), "both holds counted");
        assertCode(OK, run(cmd(Op.SET_CONCURRENCY).userId(USER).amount(0)));
        assertRestoresAlike(2, 6); // the layout version 2 had for every group

        assertCode(OK, run(cmd(Op.SET_GROUP).userId(USER).groupId(0)));
        assertEquals(3, deductUnits(USER, SVC, 3).amount());
        assertCode(OK, run(cmd(Op.SET_GROUP).userId(OTHER_USER).groupId(group)));
        assertEquals(6, deductUnits(OTHER_USER, SVC, 3).amount());
        assertCode(OK, run(cmd(Op.SET_GROUP).userId(OTHER_USER).groupId(0)));
        assertEquals(3, deductUnits(OTHER_USER, SVC, 3).amount());
        assertEquals(1, ledger.limitsRecordCount());
        assertRestoresAlike(Ledger.SNAPSHOT_VERSION, 3);
    }

    /**
     * Loads this ledger's snapshot, marked as the given version, into a new ledger: same checksum, and it prices
     * three units for the user as expected.
     */
    private void assertRestoresAlike(final int version, final long priced)
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(new byte[ledger.snapshotLength()]);
        ledger.writeSnapshot(buffer, 0);
        buffer.putInt(Integer.BYTES, version, java.nio.ByteOrder.LITTLE_ENDIAN);
        final Ledger restored = new Ledger(config, OutcomeSink.NONE);
        restored.loadSnapshot(buffer, 0, buffer.capacity());
        assertEquals(ledger.checksum(), restored.checksum(), "version " + version);
        final Result r = new Result();
        restored.process(cmd(Op.DEDUCT).timestamp(now).userId(USER).serviceId(SVC).units(3), r);
        assertEquals(priced, r.amount(), "version " + version);
    }

    @Test
    void shouldPriceExactlyAcross128BitsAndRefuseWhatPassesALong()
    {
        assertCode(OK, run(cmd(Op.SET_PRICE).groupId(0).serviceId(SVC).multiplier(Command.MULTIPLIER_ONE)));
        final Result exact = deductUnits(USER, SVC, Long.MAX_VALUE);
        assertCode(INSUFFICIENT_FUNDS, exact);
        assertEquals(Long.MAX_VALUE, exact.amount(), "priced exactly, then refused for funds");
        assertCode(OK, run(cmd(Op.SET_PRICE).groupId(0).serviceId(SVC).multiplier(Command.MULTIPLIER_ONE + 1)));
        assertCode(AMOUNT_OVERFLOW, deductUnits(USER, SVC, Long.MAX_VALUE));
        assertCode(OK, run(cmd(Op.SET_PRICE).groupId(0).serviceId(SVC).multiplier(Long.MAX_VALUE)));
        assertEquals(9_223_372_036_855L, deductUnits(USER, SVC, 1).amount(), "ceil(MAX / 10^6)");
        assertCode(AMOUNT_OVERFLOW, deductUnits(USER, SVC, 1_000_001));
    }

    // ------------------------------------------------------------------------------------------------ rate limits

    @Test
    void shouldAdmitABurstThenOneRequestPerEmissionInterval()
    {
        assertCode(OK, rateLimit(0, 2, 0, SECOND));
        assertCode(OK, deduct(USER, 0, 1));
        assertCode(OK, deduct(USER, 0, 1));
        final Result limited = deduct(USER, 0, 1);
        assertCode(RATE_LIMITED, limited);
        assertEquals(500, limited.retryAfterMillis());
        now += 499;
        assertEquals(1, deduct(USER, 0, 1).retryAfterMillis());
        now += 1;
        assertCode(OK, deduct(USER, 0, 1));
        assertEquals(1_000_000 - 3, balance(), "refused requests are not charged");
    }

    @Test
    void shouldLimitUnitsPerKeyAndSayNeverForARequestAboveTheLimit()
    {
        assertCode(OK, setKey(USER, KEY, 1_000_000));
        assertCode(OK, rateLimit(KEY, 0, 1_000, 60 * SECOND));
        assertCode(OK, deduct(USER, KEY, 600));
        final Result limited = deduct(USER, KEY, 600);
        assertCode(RATE_LIMITED, limited);
        assertEquals(12_000, limited.retryAfterMillis(), "200 units at 60 ms each");
        assertEquals(-1, deduct(USER, KEY, 1_001).retryAfterMillis());
        assertCode(OK, deduct(USER, 0, 5_000)); // the user itself has no limit
        final int from = outcomes.size();
        final Result units = run(cmd(Op.DEDUCT).userId(USER).serviceId(SVC).virtualKeyId(KEY).units(400));
        assertCode(OK, units);
        final Outcome applied = outcomes.get(from + 1);
        assertEquals(OutcomeType.POLICY_APPLIED, applied.type());
        assertEquals(now * 1000 + 36_000_000L + 24_000_000L, applied.keyUnitsTat());
    }

    @Test
    void shouldNotMoveAnyLimiterWhenALaterCheckRefuses()
    {
        assertCode(OK, rateLimit(0, 1, 0, 60 * SECOND));
        assertCode(INSUFFICIENT_FUNDS, deduct(USER, 0, 2_000_000));
        assertCode(OK, deduct(USER, 0, 1), "the refused request did not use the one request a minute");
    }

    @Test
    void shouldCapTheLimiterStateAtTheNewPeriodWhenTheLimitChanges()
    {
        assertCode(OK, rateLimit(0, 1, 0, HOUR));
        assertCode(OK, deduct(USER, 0, 1));
        assertCode(RATE_LIMITED, deduct(USER, 0, 1));
        assertCode(OK, rateLimit(0, 10, 0, SECOND));
        now += SECOND - 100;
        assertCode(OK, deduct(USER, 0, 1));
        assertCode(OK, rateLimit(0, 0, 0, 0));
        assertEquals(0, ledger.rateLimitCount());
    }

    // ------------------------------------------------------------------------------------------------ concurrency

    @Test
    void shouldCapOpenHoldsPerUserAndPerKey()
    {
        assertCode(OK, setKey(USER, KEY, 1_000));
        assertCode(OK, run(cmd(Op.SET_CONCURRENCY).userId(USER).virtualKeyId(KEY).amount(1)));
        assertCode(OK, run(cmd(Op.SET_CONCURRENCY).userId(USER).amount(2)));
        assertCode(OK, reserve(1, KEY, 10));
        assertCode(CONCURRENCY_LIMITED, reserve(2, KEY, 10));
        assertCode(OK, reserve(3, 0, 10));
        assertCode(CONCURRENCY_LIMITED, reserve(4, 0, 10));
        assertCode(OK, deduct(USER, KEY, 10), "a deduct holds nothing");
        assertCode(OK, settle(1, 5));
        assertCode(OK, reserve(5, KEY, 10));
        assertCode(CONCURRENCY_LIMITED, reserve(6, 0, 10));
        assertCode(OK, run(cmd(Op.SET_CONCURRENCY).userId(USER).amount(0)));
        assertCode(OK, reserve(6, 0, 10));
    }

    // ------------------------------------------------------------------------------------------------ spend windows

    @Test
    void shouldLimitSpendInARollingWindowAndSayWhenEnoughHasLeft()
    {
        assertCode(OK, window(0, 100, 12 * SECOND)); // buckets of 1 s
        final long t0 = now;
        assertCode(OK, deduct(USER, 0, 60));
        now = t0 + 5 * SECOND;
        assertCode(OK, deduct(USER, 0, 30));
        now = t0 + 6 * SECOND;
        final Result refused = deduct(USER, 0, 20);
        assertCode(SPEND_WINDOW_EXCEEDED, refused);
        assertEquals(7 * SECOND, refused.retryAfterMillis(), "the 60 leaves when its bucket is 13 buckets old");
        assertEquals(-1, deduct(USER, 0, 101).retryAfterMillis());
        now = t0 + 13 * SECOND - 1;
        assertCode(SPEND_WINDOW_EXCEEDED, deduct(USER, 0, 20));
        now = t0 + 13 * SECOND;
        assertCode(OK, deduct(USER, 0, 20));
        assertEquals(1, ledger.spendWindowCount());
        assertCode(OK, window(0, 0, 12 * SECOND));
        assertEquals(0, ledger.spendWindowCount());
    }

    @Test
    void shouldGiveUnusedHoldsBackToTheirWindowBucket()
    {
        assertCode(OK, setKey(USER, KEY, 1_000));
        assertCode(OK, window(KEY, 100, 12 * SECOND));
        assertCode(OK, reserve(1, KEY, 100));
        assertCode(SPEND_WINDOW_EXCEEDED, deduct(USER, KEY, 1));
        now += 3 * SECOND;
        assertCode(OK, settle(1, 40));
        assertCode(OK, deduct(USER, KEY, 60));
        assertCode(SPEND_WINDOW_EXCEEDED, deduct(USER, KEY, 1));
        assertCode(OK, deduct(USER, 0, 500), "the key's window, not the user's");
    }

    @Test
    void shouldAllowFourWindowsPerSubject()
    {
        for (int i = 1; i <= LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; i++)
        {
            assertCode(OK, window(0, 100, i * HOUR));
        }
        assertCode(CAPACITY_EXCEEDED, window(0, 100, 5 * HOUR));
        assertCode(OK, window(0, 50, 4 * HOUR));
        assertCode(OK, window(0, 0, 2 * HOUR));
        assertCode(OK, window(0, 100, 5 * HOUR));
    }

    // ------------------------------------------------------------------------------------------------ outcomes, time

    @Test
    void shouldJournalOnlyTheUsualOutcomeForAUserWithoutPolicy()
    {
        int from = outcomes.size();
        assertCode(OK, deduct(USER, 0, 5));
        assertEquals(List.of(OutcomeType.CHARGED), typesSince(from));
        assertCode(OK, run(cmd(Op.SET_CONCURRENCY).userId(USER).amount(3)));
        from = outcomes.size();
        assertCode(OK, deduct(USER, 0, 5));
        assertEquals(List.of(OutcomeType.CHARGED), typesSince(from), "a cap concerns holds only");

        assertCode(OK, setKey(USER, KEY, 100));
        from = outcomes.size();
        final Command keyed = cmd(Op.DEDUCT).userId(USER).serviceId(SVC).virtualKeyId(KEY).units(7);
        final Result first = run(keyed);
        assertEquals(List.of(OutcomeType.CHARGED, OutcomeType.POLICY_APPLIED), typesSince(from));
        final Outcome applied = outcomes.get(from + 1);
        assertEquals(KEY, applied.virtualKeyId());
        assertEquals(7, applied.units());
        assertEquals(7, applied.amount());
        assertEquals(7, applied.keySpentAfter());
        from = outcomes.size();
        final Result retry = run(keyed);
        assertTrue(retry.duplicate());
        assertEquals(first.keySpent(), retry.keySpent(), "a duplicate gets the policy fields back too");
        assertEquals(first.units(), retry.units());
        assertEquals(first.virtualKeyId(), retry.virtualKeyId());
        assertEquals(List.of(), typesSince(from));

        final Result refused = deduct(USER, KEY, 1_000);
        final Outcome rejected = outcomes.get(outcomes.size() - 1);
        assertEquals(OutcomeType.REJECTED, rejected.type());
        assertEquals(VIRTUAL_KEY_BUDGET_EXCEEDED, rejected.code());
        assertEquals(KEY, rejected.virtualKeyId());
        assertFalse(refused.accepted());
    }

    @Test
    void shouldTakeACommandStampedInThePastAtTheLatestTime()
    {
        assertCode(OK, rateLimit(0, 1, 0, SECOND));
        assertCode(OK, deduct(USER, 0, 1));
        final long t = now;
        now = t - 10 * SECOND;
        final Result limited = deduct(USER, 0, 1);
        assertCode(RATE_LIMITED, limited);
        assertEquals(1_000, limited.retryAfterMillis(), "measured from the latest time, not the stamp");
        assertEquals(t, outcomes.get(outcomes.size() - 1).timestamp());
    }
}
