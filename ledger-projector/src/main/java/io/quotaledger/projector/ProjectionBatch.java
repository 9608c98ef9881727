package io.quotaledger.projector;

import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import io.quotaledger.core.ResultCode;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The outcomes of one projector transaction, aggregated in memory: usage deltas per (user, service, hour), the latest
 * state per account, quota use per period, the holds opened and closed, and the money movements. Closing a hold needs
 * what it held, which for a hold opened in an earlier batch only PostgreSQL knows: such closes wait in
 * {@link #pendingCloses()} until {@link #resolveCloses(Map)} hands them the holds.
 *
 * <p>Gateway policy: usage and rejections per virtual key and hour, rejections by reason, and the latest policy
 * settings (keys, service budgets, prices, groups, rate limits, spend windows, concurrency caps). A POLICY_APPLIED
 * belongs to the outcome right before it: after a CHARGED or HOLD_OPENED it is a request through its key, after a
 * close only the key's spend after it (the close itself is counted against the key the hold was taken through). The
 * outcome before the batch's first is {@link #ProjectionBatch(OutcomeType) given}. Settings hold the last value of
 * the batch per row; a removal deletes the row, so a service budget removed and set again in one batch starts afresh
 * as it would in two.
 *
 * <p>Not thread-safe: the projector thread owns it.
 */
final class ProjectionBatch
{
    private static final long MILLIS_PER_HOUR = 3_600_000L;

    /** (user, service, hour): requests, free units, paid units, rejections. */
    record UsageKey(long userId, int serviceId, long hourMillis)
    {
    }

    static final class Usage
    {
        long requests;
        long freeUnits;
        long paidUnits;
        long rejections;
    }

    /**
     * What the batch did to one account: the last balance seen, the change of held funds, and the settings if set.
     */
    static final class AccountChange
    {
        long balance;
        long heldDelta;
        Long creditLimit;
        Boolean frozen;
        long updatedAt;
    }

    record QuotaKey(long userId, int serviceId)
    {
    }

    record Grant(Period type, long allowance, long at)
    {
    }

    /**
     * Free units used in one period. {@code type} is null when the batch has not seen the quota's GRANT: the type and
     * allowance are then those PostgreSQL holds from earlier batches.
     */
    record QuotaUseKey(long userId, int serviceId, Period type, int periodId)
    {
    }

    static final class QuotaUse
    {
        long used;
        long allowance;
        long at;
    }

    /**
     * An open hold: what it took, and the virtual key it was taken through (0: none).
     */
    record Hold(
        UUID holdId,
        long userId,
        int serviceId,
        long fromFree,
        long fromBalance,
        long openedAt,
        long expiresAt,
        long virtualKeyId)
    {
        Hold withVirtualKey(final long virtualKeyId)
        {
            return new Hold(holdId, userId, serviceId, fromFree, fromBalance, openedAt, expiresAt, virtualKeyId);
        }
    }

    /**
     * A SETTLE, RELEASE or expiry, waiting to know what its hold held.
     */
    record Close(
        long sequence,
        OutcomeType type,
        long timestamp,
        UUID requestId,
        UUID holdId,
        long userId,
        int serviceId,
        long amount,
        long fromFree,
        long fromBalance,
        long returnedFree,
        long returnedBalance,
        long balanceAfter)
    {
    }

    record Movement(
        long sequence,
        long at,
        long userId,
        int serviceId,
        String kind,
        UUID requestId,
        UUID holdId,
        long amount,
        long balanceChange,
        long freeReturned,
        long balanceAfter)
    {
    }

    /** (user, virtual key, service, hour): requests, units, amount, rejections. */
    record KeyUsageKey(long userId, long virtualKeyId, int serviceId, long hourMillis)
    {
    }

    static final class KeyUsage
    {
        long requests;
        long units;
        long amount;
        long rejections;
    }

    record RejectionKey(long userId, long virtualKeyId, int serviceId, long hourMillis, ResultCode reason)
    {
    }

    /**
     * A virtual key's configuration as last set; {@code createdAt} is the first SET the batch saw (kept when the row
     * exists).
     */
    record KeyConfig(
        long userId,
        boolean unlimited,
        long budget,
        Period resetPeriod,
        long resetMillis,
        long expiresAt,
        int[] services,
        long createdAt,
        long at)
    {
    }

    /**
     * What a key (or a key on one service) had spent in its period {@code periodId} after a charge, hold or return.
     */
    record Spend(long spent, long periodId, long at)
    {
    }

    record ServiceKey(long virtualKeyId, int serviceId)
    {
    }

    /**
     * A service budget set in the batch. {@code spendIfExisted}: the last spend on (key, service) before the batch's
     * first SET of it, which applies only when the row existed before the batch (else that spend met no budget row
     * and is dropped, as it would be had the batch ended before the SET); null for none.
     */
    record ServiceBudget(long userId, long budget, long at, Spend spendIfExisted)
    {
    }

    record PriceKey(int groupId, int serviceId)
    {
    }

    record Price(long multiplier, long at)
    {
    }

    record GroupChange(int groupId, long at)
    {
    }

    /** A user (virtual key 0) or one of its virtual keys. */
    record SubjectKey(long userId, long virtualKeyId)
    {
    }

    /** A rate limit; requests = units = 0 removes it. */
    record RateLimit(long requests, long units, long perMillis, long at)
    {
    }

    record WindowKey(long userId, long virtualKeyId, long perMillis)
    {
    }

    /** A spend window's or a concurrency cap's maximum; 0 removes it. */
    record Maximum(long max, long at)
    {
    }

    private final Map<UsageKey, Usage> usage = new HashMap<>();
    private final Map<Long, AccountChange> accounts = new HashMap<>();
    private final Map<QuotaKey, Grant> grants = new LinkedHashMap<>();
    private final Map<QuotaUseKey, QuotaUse> quotaUse = new LinkedHashMap<>();
    private final Map<UUID, Hold> opened = new LinkedHashMap<>();
    private final Map<UUID, Hold> openedAndClosed = new HashMap<>();
    private final List<Close> closes = new ArrayList<>();
    private final List<UUID> closedEarlier = new ArrayList<>();
    private final List<Movement> movements = new ArrayList<>();
    private final Map<UUID, Long> keyedEarlier = new HashMap<>();
    private final Map<KeyUsageKey, KeyUsage> keyUsage = new HashMap<>();
    private final Map<RejectionKey, long[]> rejections = new HashMap<>();
    private final Map<Long, KeyConfig> keyConfigs = new LinkedHashMap<>();
    private final Map<Long, Long> revocations = new LinkedHashMap<>();
    private final Map<Long, Spend> keySpends = new LinkedHashMap<>();
    private final Map<ServiceKey, ServiceBudget> serviceBudgets = new LinkedHashMap<>();
    private final Set<ServiceKey> serviceBudgetsRemoved = new HashSet<>();
    private final Map<ServiceKey, Spend> serviceSpends = new LinkedHashMap<>();
    private final Map<PriceKey, Price> prices = new LinkedHashMap<>();
    private final Map<Long, GroupChange> groups = new LinkedHashMap<>();
    private final Map<SubjectKey, RateLimit> rateLimits = new LinkedHashMap<>();
    private final Map<WindowKey, Maximum> spendWindows = new LinkedHashMap<>();
    private final Map<SubjectKey, Maximum> concurrencyCaps = new LinkedHashMap<>();
    private OutcomeType previous;
    private long lastSequence;
    private long lastTimestamp;
    private final UnsafeBuffer lastOutcome = new UnsafeBuffer(new byte[Outcome.LENGTH]);
    private int outcomes;

    /**
     * @param previous the type of the outcome right before the batch's first (the checkpoint's), null when unknown:
     *                 the journal's start, or tables projected before it was kept.
     */
    ProjectionBatch(final OutcomeType previous)
    {
        this.previous = previous;
    }

    /**
     * @return the CRC32C of an outcome's encoded bytes: with its sequence and time, what tells the outcome a
     * checkpoint counted from another one that later took the same sequence in a journal that lost its end.
     */
    static long crc(final Outcome outcome)
    {
        final UnsafeBuffer encoded = new UnsafeBuffer(new byte[Outcome.LENGTH]);
        outcome.encode(encoded, 0);
        return crc(encoded);
    }

    private static long crc(final UnsafeBuffer encoded)
    {
        final CRC32C crc = new CRC32C();
        crc.update(encoded.byteArray(), 0, Outcome.LENGTH);
        return crc.getValue();
    }

    /**
     * Adds one outcome; outcomes must come in journal order.
     */
    void add(final long sequence, final Outcome o)
    {
        outcomes++;
        lastSequence = sequence;
        lastTimestamp = o.timestamp();
        o.encode(lastOutcome, 0); // the outcome object is reused: keep what lastCrc() needs
        final OutcomeType type = o.type();
        final OutcomeType before = previous;
        previous = type;
        switch (type)
        {
            case REJECTED -> rejected(o);
            case POLICY_APPLIED -> policyApplied(sequence, before, o);
            case VIRTUAL_KEY_SET, VIRTUAL_KEY_SERVICE_BUDGET_SET, VIRTUAL_KEY_REVOKED, PRICE_SET, GROUP_SET,
                RATE_LIMIT_SET, SPEND_WINDOW_SET, CONCURRENCY_SET -> policySet(o);
            default -> accountChanged(sequence, o);
        }
    }

    /**
     * An outcome of types 1 to 10: they all carry the account's balance after.
     */
    private void accountChanged(final long sequence, final Outcome o)
    {
        final OutcomeType type = o.type();
        final AccountChange account = account(o.userId());
        account.balance = o.balanceAfter();
        account.updatedAt = o.timestamp();
        switch (type)
        {
            case CREDITED -> movements.add(new Movement(sequence, o.timestamp(), o.userId(), 0, "CREDIT",
                requestId(o), null, o.amount(), o.amount(), 0, o.balanceAfter()));
            case CHARGED ->
            {
                final Usage u = usage(o.userId(), o.serviceId(), o.timestamp());
                u.requests++;
                u.freeUnits += o.fromFree();
                u.paidUnits += o.fromBalance();
                quotaUse(o);
            }
            case HOLD_OPENED ->
            {
                final Usage u = usage(o.userId(), o.serviceId(), o.timestamp());
                u.requests++;
                u.freeUnits += o.fromFree();
                u.paidUnits += o.fromBalance();
                account.heldDelta += o.fromFree() + o.fromBalance();
                final UUID holdId = new UUID(o.holdIdHi(), o.holdIdLo());
                opened.put(holdId, new Hold(holdId, o.userId(), o.serviceId(), o.fromFree(), o.fromBalance(),
                    o.timestamp(), o.expiresAt(), 0));
                quotaUse(o);
            }
            case HOLD_SETTLED, HOLD_RELEASED, HOLD_EXPIRED ->
            {
                final UUID holdId = new UUID(o.holdIdHi(), o.holdIdLo());
                closes.add(new Close(sequence, type, o.timestamp(), requestId(o), holdId, o.userId(),
                    o.serviceId(), o.amount(), o.fromFree(), o.fromBalance(), o.returnedFree(), o.returnedBalance(),
                    o.balanceAfter()));
                final Hold openedHere = opened.remove(holdId);
                if (openedHere == null)
                {
                    closedEarlier.add(holdId);
                }
                else
                {
                    openedAndClosed.put(holdId, openedHere); // never reaches open_holds
                }
                quotaUse(o);
            }
            case GRANTED ->
            {
                grants.put(new QuotaKey(o.userId(), o.serviceId()),
                    new Grant(o.periodType(), o.amount(), o.timestamp()));
                quotaUse(o);
            }
            case LIMIT_SET ->
            {
                account.creditLimit = o.amount();
                movements.add(new Movement(sequence, o.timestamp(), o.userId(), 0, "LIMIT", requestId(o), null,
                    o.amount(), 0, 0, o.balanceAfter()));
            }
            case FROZEN -> account.frozen = Boolean.TRUE;
            case UNFROZEN -> account.frozen = Boolean.FALSE;
            default -> throw new IllegalStateException("outcome type " + type + " at sequence " + sequence);
        }
    }

    private void rejected(final Outcome o)
    {
        usage(o.userId(), o.serviceId(), o.timestamp()).rejections++;
        rejections.computeIfAbsent(new RejectionKey(o.userId(), o.virtualKeyId(), o.serviceId(),
            hourOf(o.timestamp()), o.code()), k -> new long[1])[0]++;
        if (o.virtualKeyId() != 0)
        {
            keyUsage(o.userId(), o.virtualKeyId(), o.serviceId(), o.timestamp()).rejections++;
        }
    }

    /**
     * @param before the type of the outcome right before it: the charge, hold or close it belongs to.
     */
    private void policyApplied(final long sequence, final OutcomeType before, final Outcome o)
    {
        final boolean request = before == OutcomeType.CHARGED || before == OutcomeType.HOLD_OPENED;
        if (!request && !closesHold(before))
        {
            throw new IllegalStateException("the POLICY_APPLIED at sequence " + sequence + " follows " +
                (before == null ? "an outcome the projection does not know" : "a " + before) +
                ", not a charge or hold outcome: the tables do not match the journal (rebuild them)");
        }
        final long key = o.virtualKeyId();
        if (key == 0)
        {
            return; // the user's own limits only: usage_hourly counts the request
        }
        if (request)
        {
            final KeyUsage u = keyUsage(o.userId(), key, o.serviceId(), o.timestamp());
            u.requests++;
            u.units += o.units();
            u.amount += o.amount();
        }
        if (before == OutcomeType.HOLD_OPENED)
        {
            final UUID holdId = new UUID(o.requestIdHi(), o.requestIdLo()); // a hold's id is its RESERVE's
            final Hold hold = opened.get(holdId);
            if (hold != null)
            {
                opened.put(holdId, hold.withVirtualKey(key));
            }
            else
            {
                keyedEarlier.put(holdId, key); // its HOLD_OPENED ended the previous batch
            }
        }
        keySpends.put(key, new Spend(o.keySpentAfter(), o.keyPeriodId(), o.timestamp()));
        serviceSpends.put(new ServiceKey(key, o.serviceId()),
            new Spend(o.keyServiceSpentAfter(), o.keyPeriodId(), o.timestamp()));
    }

    private void policySet(final Outcome o)
    {
        final long at = o.timestamp();
        switch (o.type())
        {
            case VIRTUAL_KEY_SET ->
            {
                final int[] services = new int[o.serviceCount()];
                for (int i = 0; i < services.length; i++)
                {
                    services[i] = o.service(i);
                }
                final KeyConfig earlier = keyConfigs.get(o.virtualKeyId());
                keyConfigs.put(o.virtualKeyId(), new KeyConfig(o.userId(), o.unlimited(), o.amount(),
                    o.resetPeriod(), o.resetMillis(), o.expiresAt(), services,
                    earlier == null ? at : earlier.createdAt(), at));
            }
            case VIRTUAL_KEY_REVOKED -> revocations.putIfAbsent(o.virtualKeyId(), at);
            case VIRTUAL_KEY_SERVICE_BUDGET_SET ->
            {
                final ServiceKey key = new ServiceKey(o.virtualKeyId(), o.serviceId());
                if (o.amount() < 0)
                {
                    serviceBudgets.remove(key);
                    serviceBudgetsRemoved.add(key);
                    serviceSpends.remove(key); // spent on the row removed
                }
                else
                {
                    final ServiceBudget earlier = serviceBudgets.get(key);
                    if (earlier != null)
                    {
                        // set before in this batch: the row exists, the spends since stay to be applied after it
                        serviceBudgets.put(key,
                            new ServiceBudget(o.userId(), o.amount(), at, earlier.spendIfExisted()));
                    }
                    else
                    {
                        // spends since a removal in this batch met no row: dropped
                        final Spend before = serviceSpends.remove(key);
                        serviceBudgets.put(key, new ServiceBudget(o.userId(), o.amount(), at,
                            serviceBudgetsRemoved.contains(key) ? null : before));
                    }
                }
            }
            case PRICE_SET -> prices.put(new PriceKey(o.groupId(), o.serviceId()), new Price(o.multiplier(), at));
            case GROUP_SET -> groups.put(o.userId(), new GroupChange(o.groupId(), at));
            case RATE_LIMIT_SET -> rateLimits.put(new SubjectKey(o.userId(), o.virtualKeyId()),
                new RateLimit(o.requests(), o.units(), o.perMillis(), at));
            case SPEND_WINDOW_SET -> spendWindows.put(new WindowKey(o.userId(), o.virtualKeyId(), o.perMillis()),
                new Maximum(o.amount(), at));
            case CONCURRENCY_SET -> concurrencyCaps.put(new SubjectKey(o.userId(), o.virtualKeyId()),
                new Maximum(o.amount(), at));
            default -> throw new IllegalStateException("not a policy setting: " + o.type());
        }
    }

    private static boolean closesHold(final OutcomeType type)
    {
        return type == OutcomeType.HOLD_SETTLED || type == OutcomeType.HOLD_RELEASED ||
            type == OutcomeType.HOLD_EXPIRED;
    }

    int outcomes()
    {
        return outcomes;
    }

    /**
     * @return the rows the batch will write: what its transaction costs, however many outcomes it folds.
     */
    int rows()
    {
        return usage.size() + accounts.size() + grants.size() + quotaUse.size() + opened.size() + closes.size() +
            movements.size() + keyedEarlier.size() + keyUsage.size() + rejections.size() + keyConfigs.size() +
            revocations.size() + keySpends.size() + serviceBudgets.size() + serviceBudgetsRemoved.size() +
            serviceSpends.size() + prices.size() + groups.size() + rateLimits.size() + spendWindows.size() +
            concurrencyCaps.size();
    }

    boolean isEmpty()
    {
        return outcomes == 0;
    }

    long lastSequence()
    {
        return lastSequence;
    }

    long lastTimestamp()
    {
        return lastTimestamp;
    }

    /**
     * @return the type of the batch's last outcome: what the next batch's first outcome follows.
     */
    OutcomeType lastType()
    {
        return previous;
    }

    /**
     * @return {@link #crc} of the last outcome added.
     */
    long lastCrc()
    {
        return crc(lastOutcome);
    }

    /**
     * @return the ids of holds closed in this batch but opened before it: PostgreSQL's open_holds has them.
     */
    List<UUID> pendingCloses()
    {
        return closedEarlier;
    }

    /**
     * Applies every close now that what each hold held is known; call it once, before writing the batch.
     *
     * @param earlier the holds of {@link #pendingCloses()}, by id.
     * @throws IllegalStateException when one is missing: the tables do not match the journal.
     */
    void resolveCloses(final Map<UUID, Hold> earlier)
    {
        for (final Close c : closes)
        {
            Hold hold = openedAndClosed.get(c.holdId());
            if (hold == null)
            {
                hold = earlier.get(c.holdId());
            }
            if (hold == null)
            {
                throw new IllegalStateException("hold " + c.holdId() + " closed at sequence " + c.sequence() +
                    " is not open in the projection: the tables do not match the journal (rebuild them)");
            }
            final long excessFree = Math.max(0, c.fromFree() - hold.fromFree());
            final long excessPaid = Math.max(0, c.fromBalance() - hold.fromBalance());
            final Usage u = usage(c.userId(), c.serviceId(), c.timestamp());
            u.freeUnits += excessFree - c.returnedFree();
            u.paidUnits += excessPaid - c.returnedBalance();
            final long key = hold.virtualKeyId() != 0 ? hold.virtualKeyId() :
                keyedEarlier.getOrDefault(c.holdId(), 0L);
            if (key != 0)
            {
                // the key counted what the hold took when it opened; the close turns that into the final charge
                keyUsage(c.userId(), key, c.serviceId(), c.timestamp()).amount +=
                    c.fromFree() + c.fromBalance() - hold.fromFree() - hold.fromBalance();
            }
            account(c.userId()).heldDelta -= hold.fromFree() + hold.fromBalance();
            final long balanceChange = c.returnedBalance() - excessPaid;
            if (c.type() != OutcomeType.HOLD_SETTLED || balanceChange != 0 || c.returnedFree() != 0)
            {
                final String kind = switch (c.type())
                {
                    case HOLD_SETTLED -> "SETTLE";
                    case HOLD_RELEASED -> "RELEASE";
                    default -> "EXPIRY";
                };
                movements.add(new Movement(c.sequence(), c.timestamp(), c.userId(), c.serviceId(), kind,
                    c.requestId(), c.holdId(), c.amount(), balanceChange, c.returnedFree(), c.balanceAfter()));
            }
        }
        movements.sort((a, b) -> Long.compare(a.sequence(), b.sequence()));
    }

    Map<UsageKey, Usage> usage()
    {
        return usage;
    }

    Map<Long, AccountChange> accounts()
    {
        return accounts;
    }

    Map<QuotaKey, Grant> grants()
    {
        return grants;
    }

    Map<QuotaUseKey, QuotaUse> quotaUse()
    {
        return quotaUse;
    }

    /**
     * @return holds opened in this batch and still open at its end.
     */
    Collection<Hold> opened()
    {
        return opened.values();
    }

    List<Movement> movements()
    {
        return movements;
    }

    /**
     * @return the virtual keys of holds opened before this batch, whose POLICY_APPLIED came in it.
     */
    Map<UUID, Long> keyedEarlier()
    {
        return keyedEarlier;
    }

    Map<KeyUsageKey, KeyUsage> keyUsage()
    {
        return keyUsage;
    }

    /**
     * @return rejections per (user, key, service, hour, reason): one-element counters.
     */
    Map<RejectionKey, long[]> rejections()
    {
        return rejections;
    }

    Map<Long, KeyConfig> keyConfigs()
    {
        return keyConfigs;
    }

    /**
     * @return keys revoked in this batch, with the time.
     */
    Map<Long, Long> revocations()
    {
        return revocations;
    }

    /**
     * @return each key's spend after its last POLICY_APPLIED in this batch.
     */
    Map<Long, Spend> keySpends()
    {
        return keySpends;
    }

    /**
     * @return service budgets set in this batch (after any removal of the same one).
     */
    Map<ServiceKey, ServiceBudget> serviceBudgets()
    {
        return serviceBudgets;
    }

    /**
     * @return service budgets removed in this batch: their rows go first, even when set again after.
     */
    Set<ServiceKey> serviceBudgetsRemoved()
    {
        return serviceBudgetsRemoved;
    }

    /**
     * @return each (key, service)'s spend after its last POLICY_APPLIED in the batch, to apply to the row when it
     * exists once the batch's budgets are written (those before a budget's first SET in the batch are in its
     * {@link ServiceBudget#spendIfExisted()} instead, those before a removal are dropped).
     */
    Map<ServiceKey, Spend> serviceSpends()
    {
        return serviceSpends;
    }

    Map<PriceKey, Price> prices()
    {
        return prices;
    }

    Map<Long, GroupChange> groups()
    {
        return groups;
    }

    Map<SubjectKey, RateLimit> rateLimits()
    {
        return rateLimits;
    }

    Map<WindowKey, Maximum> spendWindows()
    {
        return spendWindows;
    }

    Map<SubjectKey, Maximum> concurrencyCaps()
    {
        return concurrencyCaps;
    }

    static long hourOf(final long epochMillis)
    {
        return Math.floorDiv(epochMillis, MILLIS_PER_HOUR) * MILLIS_PER_HOUR;
    }

    private Usage usage(final long userId, final int serviceId, final long timestamp)
    {
        return usage.computeIfAbsent(new UsageKey(userId, serviceId, hourOf(timestamp)), k -> new Usage());
    }

    private KeyUsage keyUsage(final long userId, final long virtualKeyId, final int serviceId, final long timestamp)
    {
        return keyUsage.computeIfAbsent(new KeyUsageKey(userId, virtualKeyId, serviceId, hourOf(timestamp)),
            k -> new KeyUsage());
    }

    private AccountChange account(final long userId)
    {
        return accounts.computeIfAbsent(userId, k -> new AccountChange());
    }

    private void quotaUse(final Outcome o)
    {
        if (o.periodId() == 0)
        {
            return; // the service has no free quota
        }
        final Grant grant = grants.get(new QuotaKey(o.userId(), o.serviceId()));
        final QuotaUse use = quotaUse.computeIfAbsent(
            new QuotaUseKey(o.userId(), o.serviceId(), grant == null ? null : grant.type(), o.periodId()),
            k -> new QuotaUse());
        use.used = o.freeUsedAfter();
        use.allowance = grant == null ? 0 : grant.allowance();
        use.at = o.timestamp();
    }

    private static UUID requestId(final Outcome o)
    {
        return new UUID(o.requestIdHi(), o.requestIdLo());
    }
}
