package io.quotaledger.core;

import java.math.BigInteger;
import java.time.DayOfWeek;
import java.time.LocalDate;
import java.time.temporal.TemporalAdjusters;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A deliberately plain reference model of docs/semantics.md, for the randomized test. It shares nothing with
 * {@link Ledger} but the API types. Arithmetic is done with BigInteger and then range-checked, periods with java.time,
 * state in HashMaps. Speed and allocation do not matter here; being obviously right does.
 *
 * <p>Resolutions of points docs/semantics.md leaves open (reported to the lead):
 * <ul>
 * <li>Dedupe age: an id accepted at {@code t} is remembered while {@code now < t + dedupeWindowMillis}
 *     (forgotten at exactly {@code t + window}), see {@link #AGE_FORGOTTEN_AT_EXACT_WINDOW}.</li>
 * <li>A closed hold is known (HOLD_ALREADY_CLOSED) as long as the RESERVE that opened it is remembered by the dedupe
 *     window; after that, UNKNOWN_HOLD. An open hold stays known until it closes, window or not.</li>
 * <li>Unused free units of a hold go back to the quota only when the quota is still the same grant lineage (no
 *     GRANT with a different period type since) and its current period is the hold's period.</li>
 * <li>GRANT with allowance 0 keeps the quota (and what was used) so a later same-type grant keeps counting.</li>
 * <li>CREDIT leaves room for the open holds to come back, see {@link #CREDIT_KEEPS_ROOM_FOR_HOLDS}.</li>
 * <li>Only TICK (and a SETTLE/RELEASE finding its own hold due) expires holds; other commands leave due holds open.</li>
 * <li>A rejection reports the named account's state as it is after the request (a SETTLE/RELEASE: the account of its
 *     hold while open, or of the hold it just expired); see {@link #rejection}.</li>
 * </ul>
 *
 * <p>Gateway policy is modelled from the "Gateway policy" section: spend windows as maps of bucket number to amount
 * (not rings), open holds per user and key counted from the open holds, limiters with BigInteger.
 */
final class ReferenceLedger
{
    /** See the class comment: true means an id is forgotten once now - acceptedAt >= window. */
    static final boolean AGE_FORGOTTEN_AT_EXACT_WINDOW = true;

    /**
     * semantics.md says only "CREDIT: balance += amount" and that nothing may pass 64 bits; it does not say what an
     * expiry (which cannot be refused) does when the returned units would take the balance past Long.MAX_VALUE.
     * Ledger closes that gap by refusing a CREDIT when balance + held + amount would pass 64 bits. With this flag
     * the model does the same (reported to the lead as a gap in semantics.md); without it, the model follows the
     * letter of the page and throws {@link UnspecifiedException} should an expiry overflow.
     */
    static final boolean CREDIT_KEEPS_ROOM_FOR_HOLDS = true;

    private static final BigInteger MIN = BigInteger.valueOf(Long.MIN_VALUE);
    private static final BigInteger MAX = BigInteger.valueOf(Long.MAX_VALUE);
    private static final BigInteger THOUSAND = BigInteger.valueOf(1000);

    /** Thrown when the model reaches a situation docs/semantics.md does not define (the test must avoid it). */
    static final class UnspecifiedException extends RuntimeException
    {
        private static final long serialVersionUID = 1L;

        UnspecifiedException(final String message)
        {
            super(message);
        }
    }

    record Id(long hi, long lo)
    {
        boolean isZero()
        {
            return hi == 0 && lo == 0;
        }
    }

    static final class Quota
    {
        final Period type;
        long allowance;
        long periodId;
        long used;

        Quota(final Period type, final long allowance, final long periodId)
        {
            this.type = type;
            this.allowance = allowance;
            this.periodId = periodId;
        }
    }

    /** A spend window: bucket number to what was charged in it. */
    static final class Window
    {
        final long length;
        final long width;
        final long since;
        long max;
        final TreeMap<Long, Long> buckets = new TreeMap<>();

        Window(final long length, final long max, final long since)
        {
            this.length = length;
            this.width = (length + 11) / 12;
            this.max = max;
            this.since = since;
        }

        long bucket(final long t)
        {
            return Math.floorDiv(t, width);
        }

        /** What the window counts at t: the buckets at most 12 behind the current one. */
        long sum(final long t)
        {
            BigInteger sum = BigInteger.ZERO;
            for (final Map.Entry<Long, Long> e : buckets.tailMap(bucket(t) - 12, true).entrySet())
            {
                sum = sum.add(big(e.getValue()));
            }
            return sum.min(MAX).longValueExact();
        }

        /** ms until what the window counts leaves room for amount, -1 never. */
        long retryAfter(final long t, final long amount)
        {
            if (amount > max)
            {
                return -1;
            }
            final long current = bucket(t);
            for (long k = current - 12; k <= current; k++)
            {
                // at (k + 13) * width bucket k has left: what remains is every bucket after k
                BigInteger remaining = BigInteger.ZERO;
                for (final long v : buckets.tailMap(k, false).values())
                {
                    remaining = remaining.add(big(v));
                }
                if (remaining.add(big(amount)).compareTo(big(max)) <= 0)
                {
                    return big(k + 13).multiply(big(width)).subtract(big(t)).longValueExact();
                }
            }
            throw new AssertionError("model bug: an amount within max never fits");
        }

        void add(final long t, final long amount)
        {
            buckets.merge(bucket(t), amount, Math::addExact);
            buckets.headMap(bucket(t) - 12).clear();
        }

        void giveBack(final long t, final long chargedAt, final long amount)
        {
            buckets.headMap(bucket(t) - 12).clear();
            final long b = bucket(chargedAt);
            if (b >= bucket(t) - 12)
            {
                final long left = buckets.getOrDefault(b, 0L) - amount;
                if (left < 0)
                {
                    throw new AssertionError("model bug: bucket below zero");
                }
                buckets.put(b, left);
            }
        }
    }

    /** Limits of a user or a key. */
    static final class Limits
    {
        int group;
        long cap;
        long requests;
        long units;
        long perMillis;
        long tatRequests;
        long tatUnits;
        final Map<Long, Window> windows = new LinkedHashMap<>();

        boolean hasRate()
        {
            return requests != 0 || units != 0;
        }
    }

    static final class ServiceBudget
    {
        long budget = -1;
        long spent;
        long periodId;
        long since;
    }

    static final class VKey
    {
        final long keyId;
        final long userId;
        long budget;
        Period resetPeriod;
        long resetMillis;
        long anchor;
        long expiresAt;
        TreeSet<Integer> services;
        boolean revoked;
        long spent;
        long periodId;
        long since;
        final Limits limits = new Limits();
        final Map<Integer, ServiceBudget> serviceBudgets = new HashMap<>();

        VKey(final long keyId, final long userId)
        {
            this.keyId = keyId;
            this.userId = userId;
        }

        long periodAt(final long t)
        {
            if (resetPeriod != null)
            {
                return periodOf(resetPeriod, t);
            }
            return resetMillis > 0 ? Math.floorDiv(t - anchor, resetMillis) : 0;
        }

        long spentAt(final long t)
        {
            return periodId == periodAt(t) ? spent : 0;
        }

        ServiceBudget activeBudget(final int serviceId)
        {
            final ServiceBudget sb = serviceBudgets.get(serviceId);
            return sb != null && sb.budget >= 0 ? sb : null;
        }

        long serviceSpentAt(final ServiceBudget sb, final long t)
        {
            return sb.periodId == periodAt(t) ? sb.spent : 0;
        }

        long remainingAt(final long t, final int serviceId)
        {
            long remaining = budget < 0 ? -1 : Math.max(0, budget - spentAt(t));
            final ServiceBudget sb = serviceId > 0 ? activeBudget(serviceId) : null;
            if (sb != null)
            {
                final long own = Math.max(0, sb.budget - serviceSpentAt(sb, t));
                remaining = remaining < 0 ? own : Math.min(remaining, own);
            }
            return remaining;
        }
    }

    static final class Account
    {
        final long userId;
        long balance;
        long creditLimit;
        boolean frozen;
        final Map<Integer, Quota> quotas = new HashMap<>();
        final Limits limits = new Limits();
        BigInteger credits = BigInteger.ZERO;
        BigInteger charges = BigInteger.ZERO;
        BigInteger returns = BigInteger.ZERO;

        Account(final long userId)
        {
            this.userId = userId;
        }
    }

    static final class Hold
    {
        final Id id;
        final long userId;
        final int serviceId;
        final long free;
        final long paid;
        final Quota quota;
        final long periodId;
        final long expiresAt;
        final long openedAt;
        final long sequence;
        long keyId;
        long keyPeriod;
        boolean touched;

        Hold(final Id id, final long userId, final int serviceId, final long free, final long paid, final Quota quota,
            final long periodId, final long expiresAt, final long openedAt, final long sequence)
        {
            this.id = id;
            this.userId = userId;
            this.serviceId = serviceId;
            this.free = free;
            this.paid = paid;
            this.quota = quota;
            this.periodId = periodId;
            this.expiresAt = expiresAt;
            this.openedAt = openedAt;
            this.sequence = sequence;
        }

        Id id()
        {
            return id;
        }

        long userId()
        {
            return userId;
        }

        int serviceId()
        {
            return serviceId;
        }

        long free()
        {
            return free;
        }

        long paid()
        {
            return paid;
        }

        Quota quota()
        {
            return quota;
        }

        long periodId()
        {
            return periodId;
        }

        long expiresAt()
        {
            return expiresAt;
        }

        long total()
        {
            return free + paid;
        }
    }

    record Remembered(Op op, long fingerprint, long acceptedAt, Result result)
    {
    }

    private final LedgerConfig config;
    private final Map<Long, Account> accounts = new HashMap<>();
    private final Map<Id, Hold> openHolds = new HashMap<>();
    private final LinkedHashMap<Id, Remembered> window = new LinkedHashMap<>();
    private final Map<Id, Integer> freshAcceptances = new HashMap<>();
    private final Map<Long, VKey> keys = new HashMap<>();
    private final Map<Long, Long> prices = new HashMap<>();
    private int expiredCount;
    private int quotaCount;
    private int serviceBudgetEntries;
    private final List<Id> lastExpired = new ArrayList<>();
    private final List<Boolean> lastExpiredTouched = new ArrayList<>();
    private Hold expiredBySettle;
    private long latestOutcomeTime = Long.MIN_VALUE;
    private long sequence;
    private boolean lastTouched;
    // what a charge found out before it was refused, for the rejection
    private long pricedAmount;
    private long retryAfter;

    ReferenceLedger(final LedgerConfig config)
    {
        this.config = config;
    }

    // ------------------------------------------------------------------------------------------------ periods

    static long periodOf(final Period period, final long epochMillis)
    {
        final LocalDate date = LocalDate.ofEpochDay(Math.floorDiv(epochMillis, 86_400_000L));
        switch (period)
        {
            case DAY:
                return date.toEpochDay();
            case WEEK:
                return date.with(TemporalAdjusters.previousOrSame(DayOfWeek.MONDAY)).toEpochDay();
            case MONTH:
                return date.getYear() * 12L + date.getMonthValue() - 1;
            default:
                throw new IllegalArgumentException(String.valueOf(period));
        }
    }

    static long freeRemaining(final Quota q, final long now)
    {
        if (q == null)
        {
            return 0;
        }
        final long used = q.periodId == periodOf(q.type, now) ? q.used : 0;
        return Math.max(0, q.allowance - used);
    }

    private static void useFree(final Quota q, final long now, final long units)
    {
        if (units == 0)
        {
            return;
        }
        roll(q, now);
        q.used = Math.addExact(q.used, units);
        if (q.used > q.allowance)
        {
            throw new AssertionError("model bug: free use above allowance");
        }
    }

    private static void roll(final Quota q, final long now)
    {
        final long current = periodOf(q.type, now);
        if (q.periodId != current)
        {
            q.periodId = current;
            q.used = 0;
        }
    }

    private static boolean fits(final BigInteger value)
    {
        return value.compareTo(MIN) >= 0 && value.compareTo(MAX) <= 0;
    }

    private static BigInteger big(final long value)
    {
        return BigInteger.valueOf(value);
    }

    private static BigInteger ceilDiv(final BigInteger a, final BigInteger b)
    {
        final BigInteger[] qr = a.divideAndRemainder(b);
        return qr[1].signum() == 0 ? qr[0] : qr[0].add(BigInteger.ONE);
    }

    // ------------------------------------------------------------------------------------------------ commands

    /**
     * Applies one command at its timestamp, or at the time of the latest outcome if that is later.
     *
     * @return a fresh result.
     */
    Result process(final Command c)
    {
        lastExpired.clear();
        lastExpiredTouched.clear();
        expiredBySettle = null;
        lastTouched = false;
        pricedAmount = 0;
        retryAfter = 0;
        final Result r = new Result().reset().op(c.op());
        if (c.op() == null)
        {
            return r.code(ResultCode.INVALID_ARGUMENT);
        }
        final long now = Math.max(c.timestamp(), latestOutcomeTime);
        final Result result = decide(c, r, now);
        final boolean journaled = (c.op().mutating() && !result.duplicate()) || !lastExpired.isEmpty();
        if (journaled)
        {
            latestOutcomeTime = now;
        }
        return result;
    }

    private Result decide(final Command c, final Result r, final long now)
    {
        final Op op = c.op();

        // 1. fields, then amounts
        final ResultCode invalid = validate(c);
        if (invalid != null)
        {
            return rejection(c, invalid, now);
        }
        if (op == Op.TICK)
        {
            tick(now);
            return r;
        }
        if (op == Op.QUERY)
        {
            return query(c, r, now);
        }

        // 2. dedupe
        final Id requestId = new Id(c.requestIdHi(), c.requestIdLo());
        final Remembered remembered = lookup(requestId, now);
        if (remembered != null)
        {
            if (remembered.fingerprint() == c.fingerprint())
            {
                return new Result().copyFrom(remembered.result()).duplicate(true);
            }
            return rejection(c, ResultCode.REQUEST_ID_CONFLICT, now);
        }
        if (op == Op.RESERVE && openHolds.containsKey(requestId))
        {
            return rejection(c, ResultCode.REQUEST_ID_CONFLICT, now);
        }

        // 3. the operation
        final ResultCode code;
        switch (op)
        {
            case DEDUCT:
                code = charge(c, r, now, null);
                break;
            case RESERVE:
                code = charge(c, r, now, requestId);
                break;
            case SETTLE:
                code = settle(c, r, c.amount(), now);
                break;
            case RELEASE:
                code = settle(c, r, -1, now);
                break;
            case CREDIT:
                code = credit(c, r, now);
                break;
            case GRANT:
                code = grant(c, r, now);
                break;
            case SET_LIMIT:
            case FREEZE:
            case UNFREEZE:
                code = setting(c, r, now);
                break;
            default:
                code = policySetting(c, r, now);
                break;
        }
        if (code != ResultCode.OK)
        {
            return rejection(c, code, now);
        }
        r.code(ResultCode.OK);
        remember(requestId, new Remembered(op, c.fingerprint(), now, new Result().copyFrom(r)));
        freshAcceptances.merge(requestId, 1, Integer::sum);
        return r;
    }

    private static boolean isCharge(final Op op)
    {
        return op == Op.DEDUCT || op == Op.RESERVE;
    }

    private static long namedKey(final Command c)
    {
        switch (c.op())
        {
            case DEDUCT:
            case RESERVE:
            case QUERY:
            case SET_VIRTUAL_KEY:
            case SET_VIRTUAL_KEY_SERVICE_BUDGET:
            case REVOKE_VIRTUAL_KEY:
            case SET_RATE_LIMIT:
            case SET_SPEND_WINDOW:
            case SET_CONCURRENCY:
                return c.virtualKeyId();
            default:
                return 0;
        }
    }

    /**
     * A rejection charges nothing and reports the current state of the account the request names, if it exists:
     * the userId's, or for SETTLE and RELEASE the account of the hold (open, or expired by this very request); and of
     * the virtual key it names when that key is the account's. A charge reports the key and units it asked for and
     * its amount (priced when it got that far); a refusal by a rate limit or spend window says when to retry.
     */
    private Result rejection(final Command c, final ResultCode code, final long now)
    {
        final Result r = new Result().reset().op(c.op()).code(code);
        if (c.op() == null)
        {
            return r;
        }
        final boolean charge = isCharge(c.op());
        r.virtualKeyId(namedKey(c))
            .units(charge ? c.units() : 0)
            .amount(charge ? (c.units() == 0 ? c.amount() : pricedAmount) : 0)
            .retryAfterMillis(code == ResultCode.RATE_LIMITED || code == ResultCode.SPEND_WINDOW_EXCEEDED ?
                retryAfter : 0);
        long user = c.userId();
        int service = c.serviceId();
        if (c.op() == Op.SETTLE || c.op() == Op.RELEASE)
        {
            final Hold hold = expiredBySettle != null ? expiredBySettle :
                openHolds.get(new Id(c.holdIdHi(), c.holdIdLo()));
            if (hold == null)
            {
                return r;
            }
            user = hold.userId();
            service = hold.serviceId();
        }
        if (c.op() == Op.SET_PRICE)
        {
            return r;
        }
        final Account a = accounts.get(user);
        if (a != null)
        {
            fill(r, a, Math.max(service, 0), now);
            final VKey k = namedKey(c) > 0 ? keys.get(namedKey(c)) : null;
            if (k != null && k.userId == user)
            {
                fillKey(r, k, Math.max(service, 0), now);
            }
        }
        return r;
    }

    private ResultCode validate(final Command c)
    {
        final Op op = c.op();
        if (op == Op.TICK)
        {
            return null;
        }
        if (op == Op.QUERY)
        {
            return c.userId() <= 0 || c.serviceId() < 0 || c.virtualKeyId() < 0 ? ResultCode.INVALID_ARGUMENT : null;
        }
        if (c.requestIdHi() == 0 && c.requestIdLo() == 0)
        {
            return ResultCode.INVALID_ARGUMENT;
        }
        final ResultCode badAmount = ResultCode.INVALID_AMOUNT;
        final ResultCode badArgument = ResultCode.INVALID_ARGUMENT;
        switch (op)
        {
            case DEDUCT:
                if (c.userId() <= 0 || c.serviceId() <= 0 || c.virtualKeyId() < 0)
                {
                    return badArgument;
                }
                return exactlyOneOfAmountAndUnits(c) ? null : badAmount;
            case RESERVE:
                if (c.userId() <= 0 || c.serviceId() <= 0 || c.virtualKeyId() < 0 || c.ttlMillis() <= 0 ||
                    c.ttlMillis() > config.maxHoldTtlMillis())
                {
                    return badArgument;
                }
                return exactlyOneOfAmountAndUnits(c) ? null : badAmount;
            case SETTLE:
                if (c.holdIdHi() == 0 && c.holdIdLo() == 0)
                {
                    return badArgument;
                }
                return c.amount() < 0 ? badAmount : null;
            case RELEASE:
                return c.holdIdHi() == 0 && c.holdIdLo() == 0 ? badArgument : null;
            case CREDIT:
                if (c.userId() <= 0)
                {
                    return badArgument;
                }
                return c.amount() <= 0 ? badAmount : null;
            case GRANT:
                if (c.userId() <= 0 || c.serviceId() <= 0 || c.period() == null)
                {
                    return badArgument;
                }
                return c.amount() < 0 ? badAmount : null;
            case SET_LIMIT:
                if (c.userId() <= 0)
                {
                    return badArgument;
                }
                return c.amount() < 0 ? badAmount : null;
            case FREEZE:
            case UNFREEZE:
                return c.userId() <= 0 ? badArgument : null;
            case SET_VIRTUAL_KEY:
            {
                if (c.userId() <= 0 || c.virtualKeyId() <= 0 || (c.resetPeriod() != null && c.resetMillis() != 0) ||
                    c.resetMillis() < 0 || c.resetMillis() > LedgerConfig.MAX_POLICY_DURATION_MILLIS ||
                    c.expiresAt() < 0 || c.serviceCount() > 12)
                {
                    return badArgument;
                }
                for (int i = 0; i < c.serviceCount(); i++)
                {
                    if (c.service(i) <= 0)
                    {
                        return badArgument;
                    }
                }
                return !c.unlimited() && c.amount() < 0 ? badAmount : null;
            }
            case SET_VIRTUAL_KEY_SERVICE_BUDGET:
                if (c.userId() <= 0 || c.virtualKeyId() <= 0 || c.serviceId() <= 0)
                {
                    return badArgument;
                }
                return c.amount() < -1 ? badAmount : null;
            case REVOKE_VIRTUAL_KEY:
                return c.userId() <= 0 || c.virtualKeyId() <= 0 ? badArgument : null;
            case SET_PRICE:
                return c.groupId() < 0 || c.serviceId() < 0 || c.multiplier() <= 0 ? badArgument : null;
            case SET_GROUP:
                return c.userId() <= 0 || c.groupId() < 0 ? badArgument : null;
            case SET_RATE_LIMIT:
            {
                final boolean removes = c.requests() == 0 && c.units() == 0;
                if (c.userId() <= 0 || c.virtualKeyId() < 0 || c.perMillis() < 0 ||
                    c.perMillis() > LedgerConfig.MAX_POLICY_DURATION_MILLIS || (!removes && c.perMillis() == 0))
                {
                    return badArgument;
                }
                return c.requests() < 0 || c.units() < 0 ? badAmount : null;
            }
            case SET_SPEND_WINDOW:
                if (c.userId() <= 0 || c.virtualKeyId() < 0 || c.perMillis() <= 0 ||
                    c.perMillis() > LedgerConfig.MAX_POLICY_DURATION_MILLIS)
                {
                    return badArgument;
                }
                return c.amount() < 0 ? badAmount : null;
            case SET_CONCURRENCY:
                if (c.userId() <= 0 || c.virtualKeyId() < 0)
                {
                    return badArgument;
                }
                return c.amount() < 0 ? badAmount : null;
            default:
                throw new IllegalStateException("unexpected op " + op);
        }
    }

    private static boolean exactlyOneOfAmountAndUnits(final Command c)
    {
        return (c.amount() > 0 && c.units() == 0) || (c.amount() == 0 && c.units() > 0);
    }

    private Remembered lookup(final Id id, final long now)
    {
        final Remembered e = window.get(id);
        if (e == null)
        {
            return null;
        }
        final boolean aged = AGE_FORGOTTEN_AT_EXACT_WINDOW ?
            now - e.acceptedAt() >= config.dedupeWindowMillis() :
            now - e.acceptedAt() > config.dedupeWindowMillis();
        if (aged)
        {
            window.remove(id);
            return null;
        }
        return e;
    }

    private void remember(final Id id, final Remembered entry)
    {
        window.put(id, entry);
        while (window.size() > config.dedupeWindowCount())
        {
            final Iterator<Id> it = window.keySet().iterator();
            it.next();
            it.remove();
        }
    }

    private void fill(final Result r, final Account a, final int serviceId, final long now)
    {
        r.balance(a.balance)
            .held(heldOf(a.userId))
            .creditLimit(a.creditLimit)
            .frozen(a.frozen)
            .freeRemaining(serviceId > 0 ? freeRemaining(a.quotas.get(serviceId), now) : 0);
    }

    private static void fillKey(final Result r, final VKey k, final int serviceId, final long now)
    {
        r.virtualKeyId(k.keyId)
            .keySpent(k.spentAt(now))
            .keyBudgetRemaining(k.remainingAt(now, serviceId))
            .flags(r.flags() | (k.revoked ? Result.FLAG_KEY_REVOKED : 0) |
                (k.expiresAt != 0 && now >= k.expiresAt ? Result.FLAG_KEY_EXPIRED : 0));
    }

    private Result query(final Command c, final Result r, final long now)
    {
        final Account a = accounts.get(c.userId());
        if (a == null)
        {
            return rejection(c, ResultCode.UNKNOWN_ACCOUNT, now).virtualKeyId(c.virtualKeyId());
        }
        fill(r, a, c.serviceId(), now);
        if (c.virtualKeyId() != 0)
        {
            final VKey k = keys.get(c.virtualKeyId());
            if (k == null || k.userId != c.userId())
            {
                return r.code(ResultCode.UNKNOWN_VIRTUAL_KEY).virtualKeyId(c.virtualKeyId());
            }
            fillKey(r, k, c.serviceId(), now);
            r.amount(k.budget);
        }
        return r;
    }

    /**
     * DEDUCT ({@code holdId} null) or RESERVE: the checks in the documented order, then all effects at once.
     */
    private ResultCode charge(final Command c, final Result r, final long now, final Id holdId)
    {
        final boolean reserve = holdId != null;
        final Account a = accounts.get(c.userId());
        if (a == null)
        {
            return ResultCode.UNKNOWN_ACCOUNT;
        }
        if (a.frozen)
        {
            return ResultCode.FROZEN;
        }
        VKey k = null;
        if (c.virtualKeyId() != 0)
        {
            k = keys.get(c.virtualKeyId());
            if (k == null || k.userId != a.userId)
            {
                return ResultCode.UNKNOWN_VIRTUAL_KEY;
            }
            if (k.revoked)
            {
                return ResultCode.VIRTUAL_KEY_REVOKED;
            }
            if (k.expiresAt != 0 && now >= k.expiresAt)
            {
                return ResultCode.VIRTUAL_KEY_EXPIRED;
            }
            if (k.services != null && !k.services.contains(c.serviceId()))
            {
                return ResultCode.SERVICE_NOT_ALLOWED;
            }
        }
        long amount = c.amount();
        if (c.units() > 0)
        {
            final long multiplier = priceOf(a.limits.group, c.serviceId());
            final BigInteger priced = ceilDiv(big(c.units()).multiply(big(multiplier)), big(Command.MULTIPLIER_ONE));
            if (!fits(priced))
            {
                return ResultCode.AMOUNT_OVERFLOW;
            }
            amount = priced.longValueExact();
            pricedAmount = amount;
        }
        final boolean touched = k != null || c.units() > 0 || a.limits.hasRate() || !a.limits.windows.isEmpty() ||
            (reserve && a.limits.cap > 0);
        long[] tats = null;
        if (touched)
        {
            final long cost = c.units() > 0 ? c.units() : amount;
            final ResultCode rate = rateCheck(a.limits, k == null ? null : k.limits, cost, now);
            if (rate != ResultCode.OK)
            {
                return rate;
            }
            tats = newTats;
            if (reserve && ((a.limits.cap > 0 && openHoldsOf(a.userId) >= a.limits.cap) ||
                (k != null && k.limits.cap > 0 && openHoldsOfKey(k.keyId) >= k.limits.cap)))
            {
                return ResultCode.CONCURRENCY_LIMITED;
            }
            boolean exceeded = false;
            long wait = 0;
            final List<Window> all = new ArrayList<>(a.limits.windows.values());
            if (k != null)
            {
                all.addAll(k.limits.windows.values());
            }
            for (final Window w : all)
            {
                if (big(w.sum(now)).add(big(amount)).compareTo(big(w.max)) > 0)
                {
                    exceeded = true;
                    final long after = w.retryAfter(now, amount);
                    wait = wait == -1 || after == -1 ? -1 : Math.max(wait, after);
                }
            }
            if (exceeded)
            {
                retryAfter = wait;
                return ResultCode.SPEND_WINDOW_EXCEEDED;
            }
            if (k != null)
            {
                final BigInteger after = big(k.spentAt(now)).add(big(amount));
                if (k.budget < 0 ? !fits(after) : after.compareTo(big(k.budget)) > 0)
                {
                    return k.budget < 0 ? ResultCode.AMOUNT_OVERFLOW : ResultCode.VIRTUAL_KEY_BUDGET_EXCEEDED;
                }
                final ServiceBudget sb = k.activeBudget(c.serviceId());
                if (sb != null && big(k.serviceSpentAt(sb, now)).add(big(amount)).compareTo(big(sb.budget)) > 0)
                {
                    return ResultCode.VIRTUAL_KEY_BUDGET_EXCEEDED;
                }
            }
        }

        final Quota q = a.quotas.get(c.serviceId());
        final long fromFree = Math.min(amount, freeRemaining(q, now));
        final long fromBalance = amount - fromFree;
        final BigInteger after = big(a.balance).subtract(big(fromBalance));
        if (after.compareTo(big(a.creditLimit).negate()) < 0)
        {
            return ResultCode.INSUFFICIENT_FUNDS;
        }
        if (!fits(after))
        {
            return ResultCode.AMOUNT_OVERFLOW;
        }
        BigInteger expiresAt = BigInteger.ZERO;
        if (reserve)
        {
            final BigInteger heldAfter = big(heldOf(a.userId)).add(big(amount));
            expiresAt = big(now).add(big(c.ttlMillis()));
            if (!fits(heldAfter) || !fits(expiresAt))
            {
                return ResultCode.AMOUNT_OVERFLOW;
            }
            if (openHolds.size() >= config.maxOpenHolds())
            {
                return ResultCode.CAPACITY_EXCEEDED;
            }
        }

        // everything passed: apply
        if (q != null)
        {
            useFree(q, now, fromFree);
        }
        a.balance = after.longValueExact();
        a.charges = a.charges.add(big(fromBalance));
        if (reserve)
        {
            final Hold hold = new Hold(holdId, a.userId, c.serviceId(), fromFree, fromBalance, q,
                q == null ? 0 : periodOf(q.type, now), expiresAt.longValueExact(), now, sequence);
            openHolds.put(holdId, hold);
            if (touched)
            {
                hold.touched = true;
                hold.keyId = c.virtualKeyId();
                hold.keyPeriod = k == null ? 0 : k.periodAt(now);
            }
        }
        r.fromFree(fromFree).fromBalance(fromBalance).amount(amount);
        if (touched)
        {
            lastTouched = true;
            a.limits.tatRequests = tats[0];
            a.limits.tatUnits = tats[1];
            for (final Window w : a.limits.windows.values())
            {
                w.add(now, amount);
            }
            if (k != null)
            {
                k.limits.tatRequests = tats[2];
                k.limits.tatUnits = tats[3];
                for (final Window w : k.limits.windows.values())
                {
                    w.add(now, amount);
                }
                final long spent = k.spentAt(now) + amount;
                k.periodId = k.periodAt(now);
                k.spent = spent;
                final ServiceBudget sb = k.activeBudget(c.serviceId());
                if (sb != null)
                {
                    sb.spent = k.serviceSpentAt(sb, now) + amount;
                    sb.periodId = k.periodAt(now);
                }
                fillKey(r, k, c.serviceId(), now);
            }
            r.units(c.units()).virtualKeyId(c.virtualKeyId());
        }
        fill(r, a, c.serviceId(), now);
        return ResultCode.OK;
    }

    private long[] newTats;

    /**
     * GCRA on each limiter of the user, then the key: requests cost 1, units cost {@code cost}. Leaves the states after
     * admission in newTats (user requests, user units, key requests, key units).
     */
    private ResultCode rateCheck(final Limits user, final Limits key, final long cost, final long now)
    {
        newTats = new long[] { user.tatRequests, user.tatUnits, key == null ? 0 : key.tatRequests,
            key == null ? 0 : key.tatUnits };
        if (!user.hasRate() && (key == null || !key.hasRate()))
        {
            return ResultCode.OK;
        }
        final BigInteger nowMicros = big(now).multiply(THOUSAND);
        if (!fits(nowMicros))
        {
            return ResultCode.AMOUNT_OVERFLOW;
        }
        final long[][] limiters = {
            { user.requests, user.perMillis, 1 }, { user.units, user.perMillis, cost },
            { key == null ? 0 : key.requests, key == null ? 0 : key.perMillis, 1 },
            { key == null ? 0 : key.units, key == null ? 0 : key.perMillis, cost } };
        boolean overflow = false;
        boolean never = false;
        long wait = 0;
        for (int i = 0; i < 4; i++)
        {
            final long limit = limiters[i][0];
            if (limit == 0)
            {
                continue;
            }
            final long c = limiters[i][2];
            if (c > limit)
            {
                never = true;
                continue;
            }
            final BigInteger period = big(limiters[i][1]).multiply(THOUSAND);
            final BigInteger increment = ceilDiv(big(c).multiply(period), big(limit));
            final BigInteger debt = big(newTats[i]).subtract(nowMicros).max(BigInteger.ZERO).add(increment);
            if (debt.compareTo(period) > 0)
            {
                wait = Math.max(wait, ceilDiv(debt.subtract(period), THOUSAND).longValueExact());
                continue;
            }
            final BigInteger tat = nowMicros.add(debt);
            if (!fits(tat))
            {
                overflow = true;
                continue;
            }
            newTats[i] = tat.longValueExact();
        }
        if (overflow)
        {
            return ResultCode.AMOUNT_OVERFLOW;
        }
        if (never || wait > 0)
        {
            retryAfter = never ? -1 : wait;
            return ResultCode.RATE_LIMITED;
        }
        return ResultCode.OK;
    }

    private long priceOf(final int group, final int serviceId)
    {
        final Long own = prices.get(priceKey(group, serviceId));
        if (own != null)
        {
            return own;
        }
        final Long fallback = prices.get(priceKey(group, 0));
        return fallback != null ? fallback : Command.MULTIPLIER_ONE;
    }

    private static long priceKey(final int group, final int serviceId)
    {
        return ((long)group << 32) | (serviceId & 0xFFFF_FFFFL);
    }

    /**
     * SETTLE with {@code actual >= 0}, RELEASE with {@code actual = -1}.
     */
    private ResultCode settle(final Command c, final Result r, final long actual, final long now)
    {
        final Id holdId = new Id(c.holdIdHi(), c.holdIdLo());
        final Hold hold = openHolds.get(holdId);
        if (hold == null)
        {
            final Remembered e = lookup(holdId, now);
            return e != null && e.op() == Op.RESERVE ? ResultCode.HOLD_ALREADY_CLOSED : ResultCode.UNKNOWN_HOLD;
        }
        if (hold.expiresAt() <= now)
        {
            expire(hold, now);
            expiredBySettle = hold;
            return ResultCode.HOLD_ALREADY_CLOSED;
        }
        // the settle cap: the excess over the hold may be at most max(hold, maxSettleExcess)
        final BigInteger cap = big(Math.max(hold.total(), config.maxSettleExcess()));
        if (big(actual).subtract(big(hold.total())).compareTo(cap) > 0)
        {
            return ResultCode.INVALID_AMOUNT;
        }
        final Account a = accounts.get(hold.userId());
        final Quota q = a.quotas.get(hold.serviceId());
        long chargeFree;
        long chargePaid;
        long unusedFree = 0;
        long unusedPaid = 0;
        long excessFree = 0;
        long excessPaid = 0;
        if (actual <= hold.total()) // RELEASE: actual = -1 -> treat as 0
        {
            final long act = Math.max(actual, 0);
            chargeFree = Math.min(act, hold.free());
            chargePaid = act - chargeFree;
            unusedFree = hold.free() - chargeFree;
            unusedPaid = hold.paid() - chargePaid;
        }
        else
        {
            final long excess = actual - hold.total();
            excessFree = Math.min(excess, freeRemaining(q, now));
            excessPaid = excess - excessFree;
            chargeFree = hold.free() + excessFree;
            chargePaid = hold.paid() + excessPaid;
        }
        final BigInteger after = big(a.balance).add(big(unusedPaid)).subtract(big(excessPaid));
        if (!fits(after))
        {
            return ResultCode.AMOUNT_OVERFLOW;
        }
        final long charged = Math.max(actual, 0);
        final boolean touched = hold.touched || (charged > hold.total() && !a.limits.windows.isEmpty());
        if (touched && !closePolicyFits(hold, a, charged, now))
        {
            return ResultCode.AMOUNT_OVERFLOW;
        }
        final long returnedFree = unusedFree > 0 && freeGoesBack(hold, q, now) ? unusedFree : 0;
        if (returnedFree > 0)
        {
            q.used -= returnedFree;
        }
        if (excessFree > 0)
        {
            useFree(q, now, excessFree);
        }
        a.balance = after.longValueExact();
        a.charges = a.charges.add(big(excessPaid));
        a.returns = a.returns.add(big(unusedPaid));
        openHolds.remove(holdId);
        r.fromFree(actual < 0 ? 0 : chargeFree)
            .fromBalance(actual < 0 ? 0 : chargePaid)
            .returned(returnedFree + unusedPaid)
            .amount(actual < 0 ? 0 : chargeFree + chargePaid)
            .flags(actual > hold.total() ? Result.FLAG_EXCEEDED_HOLD : 0);
        if (touched)
        {
            lastTouched = true;
            closePolicy(hold, a, charged, now, r);
        }
        fill(r, a, hold.serviceId(), now);
        return ResultCode.OK;
    }

    /**
     * @return false when the excess of a close would take the key's spend, its spend on the service or a spend window
     * past 64 bits.
     */
    private boolean closePolicyFits(final Hold hold, final Account a, final long charged, final long now)
    {
        if (charged <= hold.total())
        {
            return true;
        }
        final BigInteger excess = big(charged - hold.total());
        final VKey k = hold.keyId != 0 ? keys.get(hold.keyId) : null;
        final List<Window> all = new ArrayList<>(a.limits.windows.values());
        if (k != null)
        {
            all.addAll(k.limits.windows.values());
            if (!fits(big(k.spentAt(now)).add(excess)))
            {
                return false;
            }
            final ServiceBudget sb = k.activeBudget(hold.serviceId());
            if (sb != null && !fits(big(k.serviceSpentAt(sb, now)).add(excess)))
            {
                return false;
            }
        }
        for (final Window w : all)
        {
            if (!fits(big(w.sum(now)).add(excess)))
            {
                return false;
            }
        }
        return true;
    }

    /**
     * The policy side of a close: the unused part goes back to the key's period, service budget and windows that
     * counted the hold (same period, counting since before the hold opened, bucket still in the window); an excess
     * counts now in all of them.
     */
    private void closePolicy(final Hold hold, final Account a, final long charged, final long now, final Result r)
    {
        final VKey k = hold.keyId != 0 ? keys.get(hold.keyId) : null;
        final List<Window> all = new ArrayList<>(a.limits.windows.values());
        if (k != null)
        {
            all.addAll(k.limits.windows.values());
        }
        if (charged <= hold.total())
        {
            final long unused = hold.total() - charged;
            for (final Window w : all)
            {
                if (w.since <= hold.sequence)
                {
                    w.giveBack(now, hold.openedAt, unused);
                }
            }
        }
        else
        {
            for (final Window w : all)
            {
                w.add(now, charged - hold.total());
            }
        }
        if (k == null)
        {
            return;
        }
        final long period = k.periodAt(now);
        long spent = k.spentAt(now);
        final ServiceBudget sb = k.activeBudget(hold.serviceId());
        long serviceSpent = sb == null ? 0 : k.serviceSpentAt(sb, now);
        if (charged <= hold.total())
        {
            if (hold.keyPeriod == period && k.since <= hold.sequence)
            {
                spent -= hold.total() - charged;
                if (sb != null && sb.since <= hold.sequence)
                {
                    serviceSpent -= hold.total() - charged;
                }
            }
        }
        else
        {
            spent += charged - hold.total();
            serviceSpent += charged - hold.total();
        }
        if (spent < 0 || serviceSpent < 0)
        {
            throw new AssertionError("model bug: key spend below zero");
        }
        k.spent = spent;
        k.periodId = period;
        if (sb != null)
        {
            sb.spent = serviceSpent;
            sb.periodId = period;
        }
        if (r != null)
        {
            fillKey(r, k, hold.serviceId(), now);
        }
    }

    private static boolean freeGoesBack(final Hold hold, final Quota q, final long now)
    {
        if (q == null || q != hold.quota())
        {
            return false;
        }
        final long current = periodOf(q.type, now);
        if (current != hold.periodId() || q.periodId != hold.periodId())
        {
            return false;
        }
        if (q.used < hold.free())
        {
            throw new UnspecifiedException("returning more free units than used");
        }
        return true;
    }

    private void expire(final Hold hold, final long now)
    {
        final Account a = accounts.get(hold.userId());
        final Quota q = a.quotas.get(hold.serviceId());
        final BigInteger after = big(a.balance).add(big(hold.paid()));
        if (!fits(after))
        {
            throw new UnspecifiedException("expiry would overflow the balance of user " + a.userId);
        }
        if (hold.free() > 0 && freeGoesBack(hold, q, now))
        {
            q.used -= hold.free();
        }
        a.balance = after.longValueExact();
        a.returns = a.returns.add(big(hold.paid()));
        openHolds.remove(hold.id());
        if (hold.touched)
        {
            closePolicy(hold, a, 0, now, null);
        }
        expiredCount++;
        lastExpired.add(hold.id());
        lastExpiredTouched.add(hold.touched);
    }

    private void tick(final long now)
    {
        final List<Hold> due = new ArrayList<>();
        for (final Hold h : openHolds.values())
        {
            if (h.expiresAt() <= now)
            {
                due.add(h);
            }
        }
        due.sort(Comparator.comparingLong(Hold::expiresAt)
            .thenComparing((x, y) -> Long.compare(x.id().hi(), y.id().hi()))
            .thenComparing((x, y) -> Long.compare(x.id().lo(), y.id().lo())));
        for (int i = 0; i < due.size() && i < config.maxExpiriesPerTick(); i++)
        {
            expire(due.get(i), now);
        }
    }

    private ResultCode credit(final Command c, final Result r, final long now)
    {
        Account a = accounts.get(c.userId());
        if (a != null)
        {
            BigInteger after = big(a.balance).add(big(c.amount()));
            if (CREDIT_KEEPS_ROOM_FOR_HOLDS)
            {
                after = after.add(big(heldOf(a.userId)));
            }
            if (!fits(after))
            {
                return ResultCode.AMOUNT_OVERFLOW;
            }
        }
        else
        {
            if (accounts.size() >= config.maxAccounts())
            {
                return ResultCode.CAPACITY_EXCEEDED;
            }
            a = new Account(c.userId());
            accounts.put(c.userId(), a);
        }
        a.balance = a.balance + c.amount();
        a.credits = a.credits.add(big(c.amount()));
        fill(r, a, 0, now);
        return ResultCode.OK;
    }

    private ResultCode grant(final Command c, final Result r, final long now)
    {
        Account a = accounts.get(c.userId());
        if (a == null && accounts.size() >= config.maxAccounts())
        {
            return ResultCode.CAPACITY_EXCEEDED;
        }
        final Quota q = a == null ? null : a.quotas.get(c.serviceId());
        if (q == null && quotaCount >= config.maxFreeQuotas())
        {
            return ResultCode.CAPACITY_EXCEEDED;
        }
        if (a == null)
        {
            a = new Account(c.userId());
            accounts.put(c.userId(), a);
        }
        if (q == null)
        {
            quotaCount++;
        }
        if (q == null || q.type != c.period())
        {
            a.quotas.put(c.serviceId(), new Quota(c.period(), c.amount(), periodOf(c.period(), now)));
        }
        else
        {
            roll(q, now);
            q.allowance = c.amount();
        }
        fill(r, a, c.serviceId(), now);
        return ResultCode.OK;
    }

    private ResultCode setting(final Command c, final Result r, final long now)
    {
        final Account a = accounts.get(c.userId());
        if (a == null)
        {
            return ResultCode.UNKNOWN_ACCOUNT;
        }
        switch (c.op())
        {
            case SET_LIMIT:
                a.creditLimit = c.amount();
                break;
            case FREEZE:
                a.frozen = true;
                break;
            default:
                a.frozen = false;
                break;
        }
        fill(r, a, 0, now);
        return ResultCode.OK;
    }

    private ResultCode policySetting(final Command c, final Result r, final long now)
    {
        final Op op = c.op();
        if (op == Op.SET_PRICE)
        {
            final long key = priceKey(c.groupId(), c.serviceId());
            if (!prices.containsKey(key) && prices.size() >= config.maxPriceEntries())
            {
                return ResultCode.CAPACITY_EXCEEDED;
            }
            prices.put(key, c.multiplier());
            return ResultCode.OK;
        }
        final Account a = accounts.get(c.userId());
        if (a == null)
        {
            return ResultCode.UNKNOWN_ACCOUNT;
        }
        VKey k = null;
        if (op != Op.SET_GROUP && c.virtualKeyId() != 0)
        {
            k = keys.get(c.virtualKeyId());
            if (op == Op.SET_VIRTUAL_KEY)
            {
                if (k != null && k.userId != a.userId)
                {
                    return ResultCode.INVALID_ARGUMENT;
                }
            }
            else if (k == null || k.userId != a.userId)
            {
                return ResultCode.UNKNOWN_VIRTUAL_KEY;
            }
            if (k != null && k.revoked && op != Op.REVOKE_VIRTUAL_KEY)
            {
                return ResultCode.VIRTUAL_KEY_REVOKED;
            }
        }
        final Limits subject = k != null ? k.limits : a.limits;
        int service = 0;
        switch (op)
        {
            case SET_VIRTUAL_KEY:
            {
                if (k == null && keys.size() >= config.maxVirtualKeys())
                {
                    return ResultCode.CAPACITY_EXCEEDED;
                }
                final boolean created = k == null;
                if (created)
                {
                    k = new VKey(c.virtualKeyId(), a.userId);
                    keys.put(k.keyId, k);
                }
                final boolean restart = created || k.resetPeriod != c.resetPeriod() ||
                    k.resetMillis != c.resetMillis();
                k.budget = c.unlimited() ? -1 : c.amount();
                k.expiresAt = c.expiresAt();
                final TreeSet<Integer> allowed = new TreeSet<>();
                for (int i = 0; i < c.serviceCount(); i++)
                {
                    allowed.add(c.service(i));
                }
                k.services = allowed.isEmpty() ? null : allowed;
                if (restart)
                {
                    k.resetPeriod = c.resetPeriod();
                    k.resetMillis = c.resetMillis();
                    k.anchor = now;
                    k.since = ++sequence;
                    k.spent = 0;
                    k.periodId = k.periodAt(now);
                    for (final ServiceBudget sb : k.serviceBudgets.values())
                    {
                        // a new reset starts the service budgets over too
                        sb.spent = 0;
                        sb.periodId = k.periodId;
                        sb.since = Math.max(sb.since, k.since);
                    }
                }
                break;
            }
            case SET_VIRTUAL_KEY_SERVICE_BUDGET:
            {
                ServiceBudget sb = k.serviceBudgets.get(c.serviceId());
                if (c.amount() >= 0 && sb == null && serviceBudgetEntries >= config.maxServiceBudgets())
                {
                    return ResultCode.CAPACITY_EXCEEDED;
                }
                if (sb == null && c.amount() >= 0)
                {
                    sb = new ServiceBudget();
                    k.serviceBudgets.put(c.serviceId(), sb);
                    serviceBudgetEntries++;
                }
                if (sb != null)
                {
                    if (sb.budget < 0 && c.amount() >= 0)
                    {
                        sb.spent = 0;
                        sb.periodId = k.periodAt(now);
                        sb.since = ++sequence;
                    }
                    sb.budget = c.amount();
                }
                service = c.serviceId();
                break;
            }
            case REVOKE_VIRTUAL_KEY:
                k.revoked = true;
                k.limits.requests = 0;
                k.limits.units = 0;
                k.limits.perMillis = 0;
                k.limits.tatRequests = 0;
                k.limits.tatUnits = 0;
                k.limits.cap = 0;
                k.limits.windows.clear();
                break;
            case SET_GROUP:
                a.limits.group = c.groupId();
                break;
            case SET_RATE_LIMIT:
            {
                final boolean has = c.requests() != 0 || c.units() != 0;
                if (has && !subject.hasRate() && rateLimitCount() >= config.maxRateLimits())
                {
                    return ResultCode.CAPACITY_EXCEEDED;
                }
                final BigInteger capAt = big(now).multiply(THOUSAND).add(big(c.perMillis()).multiply(THOUSAND));
                subject.requests = c.requests();
                subject.units = c.units();
                subject.perMillis = has ? c.perMillis() : 0;
                subject.tatRequests = c.requests() == 0 ? 0 : capTat(subject.tatRequests, capAt);
                subject.tatUnits = c.units() == 0 ? 0 : capTat(subject.tatUnits, capAt);
                break;
            }
            case SET_SPEND_WINDOW:
            {
                final Window existing = subject.windows.get(c.perMillis());
                if (c.amount() > 0 && existing == null &&
                    (subject.windows.size() == LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT ||
                    spendWindowCount() >= config.maxSpendWindows()))
                {
                    return ResultCode.CAPACITY_EXCEEDED;
                }
                if (existing != null && c.amount() > 0)
                {
                    existing.max = c.amount();
                }
                else if (existing != null)
                {
                    subject.windows.remove(c.perMillis());
                }
                else if (c.amount() > 0)
                {
                    subject.windows.put(c.perMillis(), new Window(c.perMillis(), c.amount(), ++sequence));
                }
                break;
            }
            default: // SET_CONCURRENCY
                subject.cap = c.amount();
                break;
        }
        fill(r, a, service, now);
        if (k != null)
        {
            fillKey(r, k, service, now);
            r.amount(k.budget);
        }
        return ResultCode.OK;
    }

    private static long capTat(final long tat, final BigInteger capAt)
    {
        return fits(capAt) ? Math.min(tat, capAt.longValueExact()) : tat;
    }

    // ------------------------------------------------------------------------------------------------ views

    long heldOf(final long userId)
    {
        long sum = 0;
        for (final Hold h : openHolds.values())
        {
            if (h.userId() == userId)
            {
                sum = Math.addExact(sum, h.total());
            }
        }
        return sum;
    }

    private int openHoldsOf(final long userId)
    {
        int n = 0;
        for (final Hold h : openHolds.values())
        {
            n += h.userId() == userId ? 1 : 0;
        }
        return n;
    }

    private int openHoldsOfKey(final long keyId)
    {
        int n = 0;
        for (final Hold h : openHolds.values())
        {
            n += h.keyId == keyId ? 1 : 0;
        }
        return n;
    }

    Map<Long, Long> heldByUser()
    {
        final Map<Long, Long> held = new HashMap<>();
        for (final Hold h : openHolds.values())
        {
            held.merge(h.userId(), h.total(), Math::addExact);
        }
        return held;
    }

    boolean hasDueHolds(final long now)
    {
        for (final Hold h : openHolds.values())
        {
            if (h.expiresAt() <= now)
            {
                return true;
            }
        }
        return false;
    }

    Account account(final long userId)
    {
        return accounts.get(userId);
    }

    Iterable<Account> accounts()
    {
        return accounts.values();
    }

    Iterable<VKey> keys()
    {
        return keys.values();
    }

    int accountCount()
    {
        return accounts.size();
    }

    int openHoldCount()
    {
        return openHolds.size();
    }

    int quotaCount()
    {
        return quotaCount;
    }

    int keyCount()
    {
        return keys.size();
    }

    int serviceBudgetCount()
    {
        return serviceBudgetEntries;
    }

    int priceCount()
    {
        return prices.size();
    }

    int rateLimitCount()
    {
        int n = 0;
        for (final Account a : accounts.values())
        {
            n += a.limits.hasRate() ? 1 : 0;
        }
        for (final VKey k : keys.values())
        {
            n += k.limits.hasRate() ? 1 : 0;
        }
        return n;
    }

    int spendWindowCount()
    {
        int n = 0;
        for (final Account a : accounts.values())
        {
            n += a.limits.windows.size();
        }
        for (final VKey k : keys.values())
        {
            n += k.limits.windows.size();
        }
        return n;
    }

    Hold openHold(final long hi, final long lo)
    {
        return openHolds.get(new Id(hi, lo));
    }

    /** How many times a request id was applied (accepted, not as a duplicate). */
    int freshAcceptances(final long hi, final long lo)
    {
        return freshAcceptances.getOrDefault(new Id(hi, lo), 0);
    }

    /** The holds expired by the last command, in order. */
    List<Id> lastExpired()
    {
        return new ArrayList<>(lastExpired);
    }

    /** For each hold expired by the last command: whether its expiry touched policy (a POLICY_APPLIED follows). */
    List<Boolean> lastExpiredTouched()
    {
        return new ArrayList<>(lastExpiredTouched);
    }

    /** Whether the last command's charge or close touched policy (a POLICY_APPLIED follows its outcome). */
    boolean lastTouched()
    {
        return lastTouched;
    }

    int expiredCount()
    {
        return expiredCount;
    }

    /**
     * Per user: credits - charges + returns must equal the balance.
     *
     * @return null when it holds for every user, else a description of the first user where it does not.
     */
    String checkTotals()
    {
        for (final Account a : accounts.values())
        {
            final BigInteger expected = a.credits.subtract(a.charges).add(a.returns);
            if (!expected.equals(big(a.balance)))
            {
                return "user " + a.userId + ": credits " + a.credits + " - charges " + a.charges + " + returns " +
                    a.returns + " = " + expected + " but balance " + a.balance;
            }
        }
        return null;
    }
}
