package io.quotaledger.core;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Drives {@link Ledger} and {@link ReferenceLedger} side by side with seeded random commands and compares every
 * result; checks invariants on the way, and that replaying the outcomes rebuilds the same state.
 *
 * <p>Run with {@code -Dledger.seed=N} to repeat a run; every failure message names the seed.
 * {@code -Dledger.ops=N} changes the number of operations of the main run (default 1,000,000).
 */
class LedgerRandomizedTest
{
    static final long HOUR = 3_600_000L;

    static long seed()
    {
        final String property = System.getProperty("ledger.seed");
        return property != null && !property.isBlank() ? Long.parseLong(property.trim()) : new SplittableRandom().nextLong();
    }

    static int ops(final int defaultOps)
    {
        final String property = System.getProperty("ledger.ops");
        return property != null && !property.isBlank() ? Integer.parseInt(property.trim()) : defaultOps;
    }

    static LedgerConfig smallConfig()
    {
        return new LedgerConfig()
            .expectedAccounts(64)
            .maxAccounts(280)
            .maxFreeQuotas(1_000)
            .maxOpenHolds(48)
            .dedupeWindowCount(2_000)
            .dedupeWindowMillis(6 * HOUR)
            .maxHoldTtlMillis(HOUR)
            .maxSettleExcess(300)
            .maxExpiriesPerTick(3)
            .validate();
    }

    static LedgerConfig tightConfig()
    {
        return new LedgerConfig()
            .expectedAccounts(16)
            .maxAccounts(60)
            .maxFreeQuotas(40)
            .maxOpenHolds(6)
            .dedupeWindowCount(300)
            .dedupeWindowMillis(HOUR)
            .maxHoldTtlMillis(10 * 60_000L)
            .maxSettleExcess(0)
            .maxExpiriesPerTick(1)
            .validate();
    }

    @Test
    void shouldAgreeWithReferenceModelOnRandomOperations()
    {
        final DifferentialRun run = new DifferentialRun(seed(), smallConfig(), false);
        run.run(ops(1_000_000));
        run.printStats("small config");
    }

    @Test
    void shouldAgreeWithReferenceModelUnderTightLimits()
    {
        final DifferentialRun run = new DifferentialRun(seed(), tightConfig(), false);
        run.run(ops(1_000_000) / 4);
        run.printStats("tight config");
    }

    /**
     * Near the end of the epoch microseconds: the run crosses the time after which a rate limiter's clock
     * ({@code now * 1000}) no longer fits 64 bits, where a rate-limited charge is refused with AMOUNT_OVERFLOW.
     */
    @Test
    void shouldAgreeWithReferenceModelWhereMicrosecondsOverflow()
    {
        final long start = Long.MAX_VALUE / 1000 - 2 * LedgerConfig.DAY_MILLIS;
        final DifferentialRun run = new DifferentialRun(seed(), smallConfig(), false, start);
        run.run(Math.max(ops(1_000_000) / 10, 20_000)); // about a day every 100 commands
        run.printStats("far future");
        assertTrue(run.gen.now() > Long.MAX_VALUE / 1000, run.where("the run did not cross the boundary"));
    }

    @Test
    void shouldRebuildTheSameStateByReplayingOutcomes()
    {
        final long seed = seed();
        final DifferentialRun run = new DifferentialRun(seed, smallConfig(), true);
        final int ops = 300_000;
        final int checkpointEvery = 20_000;
        final List<long[]> checkpoints = new ArrayList<>(); // {outcomeCount, checksum}
        for (int i = 0; i < ops; i++)
        {
            final int before = run.journalCount;
            run.step();
            if (i >= checkpointEvery * (checkpoints.size() + 1) && run.journalCount > before)
            {
                checkpoints.add(new long[] { run.journalCount, run.ledger.checksum() });
            }
        }
        run.checkAll();

        final Ledger replayed = new Ledger(smallConfig(), OutcomeSink.NONE);
        final Outcome outcome = new Outcome();
        int next = 0;
        for (int k = 0; k < run.journalCount; k++)
        {
            assertTrue(outcome.decode(run.journal, k * Outcome.LENGTH), run.where("outcome " + k + " does not decode"));
            replayed.apply(outcome);
            if (next < checkpoints.size() && checkpoints.get(next)[0] == k + 1)
            {
                assertEquals(checkpoints.get(next)[1], replayed.checksum(),
                    run.where("prefix replay of " + (k + 1) + " outcomes: checksum differs from the live ledger's"));
                next++;
            }
        }
        assertEquals(checkpoints.size(), next, run.where("not every checkpoint was reached"));
        assertEquals(run.ledger.checksum(), replayed.checksum(), run.where("checksum after full replay"));
        assertEquals(run.ledger.accountCount(), replayed.accountCount(), run.where("accountCount after replay"));
        assertEquals(run.ledger.openHoldCount(), replayed.openHoldCount(), run.where("openHoldCount after replay"));
        assertEquals(run.ledger.hasDueHolds(run.gen.now()), replayed.hasDueHolds(run.gen.now()),
            run.where("hasDueHolds after replay"));

        final Command query = new Command();
        final Result expected = new Result();
        final Result actual = new Result();
        for (final ReferenceLedger.Account account : run.model.accounts())
        {
            for (int service = 0; service <= RandomCommandGenerator.SERVICES; service++)
            {
                query.reset().op(Op.QUERY).timestamp(run.gen.now()).userId(account.userId).serviceId(service);
                run.ledger.process(query, expected.reset());
                replayed.process(query, actual.reset());
                assertEquals(expected.toString(), actual.toString(), run.where("QUERY after replay: " + query));
            }
        }

        for (final ReferenceLedger.VKey key : run.model.keys())
        {
            for (int service = 0; service <= RandomCommandGenerator.SERVICES; service++)
            {
                query.reset().op(Op.QUERY).timestamp(run.gen.now()).userId(key.userId).serviceId(service)
                    .virtualKeyId(key.keyId);
                run.ledger.process(query, expected.reset());
                replayed.process(query, actual.reset());
                assertEquals(expected.toString(), actual.toString(), run.where("QUERY by key after replay: " + query));
            }
        }

        // the rebuilt dedupe window answers retries like the live one: replay the recent history on both
        final Command retry = new Command();
        for (final Command recent : run.recentMutating())
        {
            retry.copyFrom(recent).timestamp(run.gen.now());
            run.ledger.process(retry, expected.reset());
            replayed.process(retry, actual.reset());
            assertEquals(expected.toString(), actual.toString(), run.where("retry after replay: " + retry));
        }
        assertEquals(run.ledger.checksum(), replayed.checksum(), run.where("checksum after retries on both"));
        System.out.println("replay: " + run.journalCount + " outcomes, " + checkpoints.size() + " prefix checkpoints, seed " +
            seed);
    }

    /**
     * One differential run: generator, ledger, reference model and the checks between them.
     */
    static final class DifferentialRun
    {
        private static final int RECENT = 40;
        private static final int FULL_CHECK_EVERY = 10_000;

        final long seed;
        final LedgerConfig config;
        final RandomCommandGenerator gen;
        final Ledger ledger;
        final ReferenceLedger model;
        final boolean keepJournal;
        final Command command = new Command();
        final Result actual = new Result();

        // outcomes of the current command
        private final UnsafeBuffer opBuffer = new UnsafeBuffer(new byte[Outcome.LENGTH * 64]);
        private int opCount;
        private final Outcome decoded = new Outcome();

        // the whole journal, for replay
        UnsafeBuffer journal = new UnsafeBuffer(new byte[Outcome.LENGTH * 1024]);
        int journalCount;

        // the ledger's view, from its outcomes
        private final Map<Long, Long> balanceFromOutcomes = new HashMap<>();
        private final Map<ReferenceLedger.Id, Long> holdPaid = new HashMap<>();
        private final Map<ReferenceLedger.Id, Integer> appliedPerRequest = new HashMap<>();
        private final List<ReferenceLedger.Id> expiredThisOp = new ArrayList<>();

        private final ArrayDeque<String> recent = new ArrayDeque<>();
        private final ArrayDeque<Command> recentMutating = new ArrayDeque<>();
        private long index;
        private final long[] codeCounts = new long[ResultCode.values().length];
        private long duplicates;
        private long expired;
        private long exceeded;
        private long lastOutcomeTime = Long.MIN_VALUE;

        DifferentialRun(final long seed, final LedgerConfig config, final boolean keepJournal)
        {
            this(seed, config, keepJournal, RandomCommandGenerator.START);
        }

        DifferentialRun(final long seed, final LedgerConfig config, final boolean keepJournal, final long start)
        {
            this.seed = seed;
            this.config = config;
            this.keepJournal = keepJournal;
            this.gen = new RandomCommandGenerator(seed, config, start, true);
            this.model = new ReferenceLedger(config);
            this.ledger = new Ledger(config, this::onOutcome);
        }

        private void onOutcome(final Outcome outcome)
        {
            if ((opCount + 1) * Outcome.LENGTH > opBuffer.capacity())
            {
                opBuffer.wrap(Arrays.copyOf(opBuffer.byteArray(), opBuffer.capacity() * 2));
            }
            outcome.encode(opBuffer, opCount * Outcome.LENGTH);
            opCount++;
            if (keepJournal)
            {
                if ((journalCount + 1) * Outcome.LENGTH > journal.capacity())
                {
                    journal.wrap(Arrays.copyOf(journal.byteArray(), journal.capacity() * 2));
                }
                outcome.encode(journal, journalCount * Outcome.LENGTH);
                journalCount++;
            }
        }

        void run(final int ops)
        {
            for (int i = 0; i < ops; i++)
            {
                step();
            }
            checkAll();
        }

        void step()
        {
            gen.next(command);
            index++;
            recent.addLast(index + ": " + command);
            if (recent.size() > RECENT)
            {
                recent.removeFirst();
            }
            if (command.op().mutating())
            {
                recentMutating.addLast(new Command().copyFrom(command));
                if (recentMutating.size() > 3000)
                {
                    recentMutating.removeFirst();
                }
            }

            final int expiredBefore = model.expiredCount();
            final Result expected;
            try
            {
                expected = model.process(command);
            }
            catch (final ReferenceLedger.UnspecifiedException e)
            {
                throw new AssertionError(where("the generator reached a case semantics.md leaves open: " + e.getMessage()),
                    e);
            }
            opCount = 0;
            ledger.process(command, actual.reset());
            recent.addLast("   model  " + expected);
            recent.addLast("   ledger " + actual);
            while (recent.size() > RECENT)
            {
                recent.removeFirst();
            }

            compare(expected, actual);
            codeCounts[expected.code().ordinal()]++;
            if (expected.duplicate())
            {
                duplicates++;
            }
            if (expected.exceededHold() && !expected.duplicate())
            {
                exceeded++;
            }
            checkOutcomes(expected, model.expiredCount() - expiredBefore);
            expired += model.expiredCount() - expiredBefore;

            if (index % FULL_CHECK_EVERY == 0)
            {
                checkAll();
            }
        }

        List<Command> recentMutating()
        {
            return new ArrayList<>(recentMutating);
        }

        String where(final String what)
        {
            return "seed " + seed + " (rerun with -Dledger.seed=" + seed + "), command #" + index + ": " + what +
                "\nrecent commands:\n  " + String.join("\n  ", recent);
        }

        private void fail(final String what)
        {
            throw new AssertionError(where(what));
        }

        /**
         * Every field, rejections included: a rejection reports the state of the account it names.
         */
        private void compare(final Result expected, final Result actual)
        {
            final boolean same = expected.op() == actual.op() && expected.code() == actual.code() &&
                expected.duplicate() == actual.duplicate() &&
                expected.flags() == actual.flags() &&
                expected.fromFree() == actual.fromFree() &&
                expected.fromBalance() == actual.fromBalance() &&
                expected.returned() == actual.returned() &&
                expected.balance() == actual.balance() &&
                expected.held() == actual.held() &&
                expected.creditLimit() == actual.creditLimit() &&
                expected.frozen() == actual.frozen() &&
                expected.freeRemaining() == actual.freeRemaining() &&
                expected.virtualKeyId() == actual.virtualKeyId() &&
                expected.units() == actual.units() &&
                expected.amount() == actual.amount() &&
                expected.retryAfterMillis() == actual.retryAfterMillis() &&
                expected.keySpent() == actual.keySpent() &&
                expected.keyBudgetRemaining() == actual.keyBudgetRemaining();
            if (!same)
            {
                fail("results differ for " + command + "\n  model  " + expected + "\n  ledger " + actual);
            }
        }

        private static OutcomeType applyingType(final Op op)
        {
            switch (op)
            {
                case DEDUCT:
                    return OutcomeType.CHARGED;
                case RESERVE:
                    return OutcomeType.HOLD_OPENED;
                case SETTLE:
                    return OutcomeType.HOLD_SETTLED;
                case RELEASE:
                    return OutcomeType.HOLD_RELEASED;
                case CREDIT:
                    return OutcomeType.CREDITED;
                case GRANT:
                    return OutcomeType.GRANTED;
                case SET_LIMIT:
                    return OutcomeType.LIMIT_SET;
                case FREEZE:
                    return OutcomeType.FROZEN;
                case UNFREEZE:
                    return OutcomeType.UNFROZEN;
                case SET_VIRTUAL_KEY:
                    return OutcomeType.VIRTUAL_KEY_SET;
                case SET_VIRTUAL_KEY_SERVICE_BUDGET:
                    return OutcomeType.VIRTUAL_KEY_SERVICE_BUDGET_SET;
                case REVOKE_VIRTUAL_KEY:
                    return OutcomeType.VIRTUAL_KEY_REVOKED;
                case SET_PRICE:
                    return OutcomeType.PRICE_SET;
                case SET_GROUP:
                    return OutcomeType.GROUP_SET;
                case SET_RATE_LIMIT:
                    return OutcomeType.RATE_LIMIT_SET;
                case SET_SPEND_WINDOW:
                    return OutcomeType.SPEND_WINDOW_SET;
                case SET_CONCURRENCY:
                    return OutcomeType.CONCURRENCY_SET;
                default:
                    return null;
            }
        }

        private void checkOutcomes(final Result expected, final int expiredByModel)
        {
            final Op op = command.op();
            int applying = 0;
            int rejected = 0;
            expiredThisOp.clear();
            if (opCount > config.maxOutcomesPerCommand())
            {
                fail(opCount + " outcomes for one command, more than maxOutcomesPerCommand " +
                    config.maxOutcomesPerCommand());
            }
            int policy = 0;
            final List<Boolean> expiredTouched = model.lastExpiredTouched();
            OutcomeType previous = null;
            for (int k = 0; k < opCount; k++)
            {
                if (!decoded.decode(opBuffer, k * Outcome.LENGTH))
                {
                    fail("outcome " + k + " of this command does not decode");
                }
                final OutcomeType type = decoded.type();
                if (decoded.timestamp() < lastOutcomeTime)
                {
                    fail("outcome time went back: " + decoded);
                }
                lastOutcomeTime = decoded.timestamp();
                if (type == OutcomeType.POLICY_APPLIED)
                {
                    policy++;
                    final boolean wanted = previous == OutcomeType.HOLD_EXPIRED ?
                        expiredTouched.get(expiredThisOp.size() - 1) : previous != null && model.lastTouched();
                    if (!wanted || previous == OutcomeType.REJECTED || previous == OutcomeType.POLICY_APPLIED)
                    {
                        fail("POLICY_APPLIED after " + previous + " where the model has none: " + decoded);
                    }
                    previous = type;
                    continue;
                }
                if (previous == OutcomeType.HOLD_EXPIRED && expiredTouched.get(expiredThisOp.size() - 1))
                {
                    fail("no POLICY_APPLIED after the expiry of a hold that touched policy");
                }
                previous = type;
                if (type == OutcomeType.REJECTED)
                {
                    rejected++;
                    if (decoded.code() != expected.code())
                    {
                        fail("REJECTED outcome carries " + decoded.code() + ", result is " + expected.code());
                    }
                    if (decoded.virtualKeyId() != expected.virtualKeyId() || decoded.units() != expected.units() ||
                        decoded.retryAfterMillis() != expected.retryAfterMillis())
                    {
                        fail("REJECTED outcome " + decoded + " does not carry the key, units and retry of " + expected);
                    }
                    continue;
                }
                if (type == OutcomeType.HOLD_EXPIRED)
                {
                    expiredThisOp.add(new ReferenceLedger.Id(decoded.requestIdHi(), decoded.requestIdLo()));
                }
                else
                {
                    applying++;
                    if (type != applyingType(op))
                    {
                        fail("outcome " + decoded + " for " + op);
                    }
                    if (decoded.requestIdHi() != command.requestIdHi() || decoded.requestIdLo() != command.requestIdLo())
                    {
                        fail("outcome " + decoded + " does not carry the request id");
                    }
                    if (decoded.fingerprint() != command.fingerprint())
                    {
                        fail("outcome " + decoded + " does not carry the request fingerprint");
                    }
                    appliedPerRequest.merge(new ReferenceLedger.Id(decoded.requestIdHi(), decoded.requestIdLo()), 1,
                        Integer::sum);
                }
                if (type.code() < OutcomeType.POLICY_APPLIED.code())
                {
                    trackBalance();
                }
            }
            if (previous == OutcomeType.HOLD_EXPIRED && expiredTouched.get(expiredThisOp.size() - 1))
            {
                fail("no POLICY_APPLIED after the expiry of a hold that touched policy");
            }
            int expectedPolicy = model.lastTouched() ? 1 : 0;
            for (final boolean touched : expiredTouched)
            {
                expectedPolicy += touched ? 1 : 0;
            }
            if (policy != expectedPolicy)
            {
                fail(policy + " POLICY_APPLIED outcomes, the model expects " + expectedPolicy);
            }

            final boolean fresh = expected.code() == ResultCode.OK && !expected.duplicate() && op.mutating();
            if (applying != (fresh ? 1 : 0))
            {
                fail(applying + " applying outcomes for a " + (fresh ? "fresh" : "duplicate or rejected") + " request");
            }
            final boolean journaledRejection = expected.code() != ResultCode.OK && op.mutating();
            if (rejected != (journaledRejection ? 1 : 0))
            {
                fail(rejected + " REJECTED outcomes for result " + expected.code());
            }
            if (expiredThisOp.size() != expiredByModel)
            {
                fail(expiredThisOp.size() + " holds expired, model expired " + expiredByModel);
            }
            final List<ReferenceLedger.Id> modelExpired = model.lastExpired();
            if (!modelExpired.equals(expiredThisOp))
            {
                fail("expiry order differs: model " + modelExpired + ", ledger " + expiredThisOp);
            }
            if (op.mutating() && (command.requestIdHi() != 0 || command.requestIdLo() != 0))
            {
                final ReferenceLedger.Id id = new ReferenceLedger.Id(command.requestIdHi(), command.requestIdLo());
                final int ledgerApplied = appliedPerRequest.getOrDefault(id, 0);
                final int modelApplied = model.freshAcceptances(id.hi(), id.lo());
                if (ledgerApplied != modelApplied)
                {
                    fail("request applied " + ledgerApplied + " times by the ledger, " + modelApplied + " by the model");
                }
            }
        }

        private void trackBalance()
        {
            final long user = decoded.userId();
            final long before = balanceFromOutcomes.getOrDefault(user, 0L);
            long delta = 0;
            switch (decoded.type())
            {
                case CREDITED:
                    delta = decoded.amount();
                    break;
                case CHARGED:
                    delta = -decoded.fromBalance();
                    checkFreeUse();
                    break;
                case HOLD_OPENED:
                    delta = -decoded.fromBalance();
                    holdPaid.put(new ReferenceLedger.Id(decoded.holdIdHi(), decoded.holdIdLo()), decoded.fromBalance());
                    if (decoded.holdIdHi() != decoded.requestIdHi() || decoded.holdIdLo() != decoded.requestIdLo())
                    {
                        fail("HOLD_OPENED hold id is not the request id: " + decoded);
                    }
                    checkFreeUse();
                    break;
                case HOLD_SETTLED:
                {
                    final Long paid = holdPaid.get(new ReferenceLedger.Id(decoded.holdIdHi(), decoded.holdIdLo()));
                    if (paid == null)
                    {
                        fail("HOLD_SETTLED for a hold never opened: " + decoded);
                    }
                    delta = decoded.returnedBalance() - Math.max(0, decoded.fromBalance() - paid);
                    break;
                }
                case HOLD_RELEASED:
                case HOLD_EXPIRED:
                    delta = decoded.returnedBalance();
                    break;
                default:
                    break;
            }
            final long after;
            try
            {
                after = Math.addExact(before, delta);
            }
            catch (final ArithmeticException e)
            {
                fail("balance from outcomes overflows: " + decoded);
                return;
            }
            balanceFromOutcomes.put(user, after);
            if (after != decoded.balanceAfter())
            {
                fail("outcome balanceAfter " + decoded.balanceAfter() + " but credits - charges + returns from the " +
                    "outcomes give " + after + ": " + decoded);
            }
        }

        private void checkFreeUse()
        {
            if (decoded.fromFree() == 0)
            {
                return;
            }
            final ReferenceLedger.Account account = model.account(decoded.userId());
            final ReferenceLedger.Quota quota = account == null ? null : account.quotas.get(decoded.serviceId());
            if (quota == null || decoded.freeUsedAfter() > quota.allowance || decoded.freeUsedAfter() < decoded.fromFree())
            {
                fail("free use " + decoded.freeUsedAfter() + " is above the allowance " +
                    (quota == null ? "(none)" : quota.allowance) + " or below this charge: " + decoded);
            }
        }

        void checkAll()
        {
            opCount = 0;
            final String totals = model.checkTotals();
            if (totals != null)
            {
                fail("model invariant credits - charges + returns = balance broken: " + totals);
            }
            if (ledger.accountCount() != model.accountCount())
            {
                fail("accountCount " + ledger.accountCount() + ", model " + model.accountCount());
            }
            if (ledger.openHoldCount() != model.openHoldCount())
            {
                fail("openHoldCount " + ledger.openHoldCount() + ", model " + model.openHoldCount());
            }
            if (ledger.freeQuotaCount() != model.quotaCount())
            {
                fail("freeQuotaCount " + ledger.freeQuotaCount() + ", model " + model.quotaCount());
            }
            if (ledger.accountCount() > config.maxAccounts() || ledger.openHoldCount() > config.maxOpenHolds() ||
                ledger.freeQuotaCount() > config.maxFreeQuotas())
            {
                fail("a capacity limit was passed: " + ledger.accountCount() + " accounts, " +
                    ledger.openHoldCount() + " open holds, " + ledger.freeQuotaCount() + " free quotas");
            }
            if (ledger.virtualKeyCount() != model.keyCount() || ledger.serviceBudgetCount() != model.serviceBudgetCount() ||
                ledger.priceCount() != model.priceCount() || ledger.rateLimitCount() != model.rateLimitCount() ||
                ledger.spendWindowCount() != model.spendWindowCount())
            {
                fail("policy tables: keys " + ledger.virtualKeyCount() + "/" + model.keyCount() + ", service budgets " +
                    ledger.serviceBudgetCount() + "/" + model.serviceBudgetCount() + ", prices " + ledger.priceCount() +
                    "/" + model.priceCount() + ", rate limits " + ledger.rateLimitCount() + "/" +
                    model.rateLimitCount() + ", windows " + ledger.spendWindowCount() + "/" + model.spendWindowCount());
            }
            if (ledger.virtualKeyCount() > config.maxVirtualKeys() || ledger.rateLimitCount() > config.maxRateLimits() ||
                ledger.spendWindowCount() > config.maxSpendWindows() || ledger.priceCount() > config.maxPriceEntries() ||
                ledger.serviceBudgetCount() > config.maxServiceBudgets())
            {
                fail("a policy capacity was passed");
            }
            if (ledger.hasDueHolds(gen.now()) != model.hasDueHolds(gen.now()))
            {
                fail("hasDueHolds " + ledger.hasDueHolds(gen.now()));
            }
            final Map<Long, Long> held = model.heldByUser();
            final Command query = new Command();
            final Result r = new Result();
            for (final ReferenceLedger.Account a : model.accounts())
            {
                for (int service = 0; service <= RandomCommandGenerator.SERVICES; service++)
                {
                    query.reset().op(Op.QUERY).timestamp(gen.now()).userId(a.userId).serviceId(service);
                    ledger.process(query, r.reset());
                    final ReferenceLedger.Quota quota = a.quotas.get(service);
                    final long expectedFree = service == 0 ? 0 : ReferenceLedger.freeRemaining(quota, gen.now());
                    if (r.code() != ResultCode.OK || r.balance() != a.balance || r.creditLimit() != a.creditLimit ||
                        r.frozen() != a.frozen || r.held() != held.getOrDefault(a.userId, 0L) ||
                        r.freeRemaining() != expectedFree)
                    {
                        fail("QUERY " + query + " gives " + r + "; model balance " + a.balance + ", held " +
                            held.getOrDefault(a.userId, 0L) + ", limit " + a.creditLimit + ", frozen " + a.frozen +
                            ", freeRemaining " + expectedFree);
                    }
                    if (r.freeRemaining() < 0 || r.freeRemaining() > (quota == null ? 0 : quota.allowance))
                    {
                        fail("freeRemaining out of [0, allowance]: " + r);
                    }
                }
                final long fromOutcomes = balanceFromOutcomes.getOrDefault(a.userId, 0L);
                if (fromOutcomes != a.balance)
                {
                    fail("user " + a.userId + ": credits - charges + returns from the ledger's outcomes = " +
                        fromOutcomes + ", balance " + a.balance);
                }
            }
            final Result expected = new Result();
            for (final ReferenceLedger.VKey k : model.keys())
            {
                for (int service = 0; service <= RandomCommandGenerator.SERVICES; service++)
                {
                    query.reset().op(Op.QUERY).timestamp(gen.now()).userId(k.userId).serviceId(service)
                        .virtualKeyId(k.keyId);
                    ledger.process(query, r.reset());
                    expected.reset().op(Op.QUERY).virtualKeyId(k.keyId).amount(k.budget).keySpent(k.spentAt(gen.now()))
                        .keyBudgetRemaining(k.remainingAt(gen.now(), service))
                        .flags((k.revoked ? Result.FLAG_KEY_REVOKED : 0) |
                        (k.expiresAt != 0 && gen.now() >= k.expiresAt ? Result.FLAG_KEY_EXPIRED : 0));
                    if (r.code() != ResultCode.OK || r.virtualKeyId() != expected.virtualKeyId() ||
                        r.amount() != expected.amount() || r.keySpent() != expected.keySpent() ||
                        r.keyBudgetRemaining() != expected.keyBudgetRemaining() || r.flags() != expected.flags())
                    {
                        fail("QUERY " + query + " gives " + r + "; model key " + expected);
                    }
                }
            }
            if (opCount != 0)
            {
                fail("QUERY emitted outcomes");
            }
        }

        void printStats(final String name)
        {
            final StringBuilder sb = new StringBuilder(name).append(": seed ").append(seed).append(", ").append(index)
                .append(" commands, ").append(duplicates).append(" duplicates, ").append(expired).append(" expired, ")
                .append(exceeded).append(" exceeded holds, days ")
                .append((gen.now() - gen.start()) / LedgerConfig.DAY_MILLIS).append(", codes:");
            for (final ResultCode code : ResultCode.values())
            {
                sb.append(' ').append(code).append('=').append(codeCounts[code.ordinal()]);
            }
            System.out.println(sb);
        }
    }
}
