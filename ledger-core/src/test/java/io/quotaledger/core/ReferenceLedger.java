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

    static final class Account
    {
        final long userId;
        long balance;
        long creditLimit;
        boolean frozen;
        final Map<Integer, Quota> quotas = new HashMap<>();
        BigInteger credits = BigInteger.ZERO;
        BigInteger charges = BigInteger.ZERO;
        BigInteger returns = BigInteger.ZERO;

        Account(final long userId)
        {
            this.userId = userId;
        }
    }

    record Hold(Id id, long userId, int serviceId, long free, long paid, Quota quota, long periodId, long expiresAt)
    {
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
    private int expiredCount;
    private int quotaCount;
    private final List<Id> lastExpired = new ArrayList<>();
    private Hold expiredBySettle;

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

    // ------------------------------------------------------------------------------------------------ commands

    /**
     * Applies one command at its timestamp.
     *
     * @return a fresh result.
     */
    Result process(final Command c)
    {
        lastExpired.clear();
        expiredBySettle = null;
        final Result r = new Result().reset().op(c.op());
        final long now = c.timestamp();
        final Op op = c.op();

        // 1. fields, then amounts
        final ResultCode invalid = validate(c);
        if (invalid != null)
        {
            return rejection(c, invalid);
        }
        if (op == Op.TICK)
        {
            tick(now);
            return r;
        }
        if (op == Op.QUERY)
        {
            return query(c, r);
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
            return rejection(c, ResultCode.REQUEST_ID_CONFLICT);
        }
        if (op == Op.RESERVE && openHolds.containsKey(requestId))
        {
            return rejection(c, ResultCode.REQUEST_ID_CONFLICT);
        }

        // 3. the operation
        final ResultCode code;
        switch (op)
        {
            case DEDUCT:
                code = deduct(c, r);
                break;
            case RESERVE:
                code = reserve(c, r, requestId);
                break;
            case SETTLE:
                code = settle(c, r, c.amount());
                break;
            case RELEASE:
                code = settle(c, r, -1);
                break;
            case CREDIT:
                code = credit(c, r);
                break;
            case GRANT:
                code = grant(c, r);
                break;
            case SET_LIMIT:
            case FREEZE:
            case UNFREEZE:
                code = setting(c, r);
                break;
            default:
                throw new IllegalStateException("unexpected op " + op);
        }
        if (code != ResultCode.OK)
        {
            return rejection(c, code);
        }
        r.code(ResultCode.OK);
        remember(requestId, new Remembered(op, c.fingerprint(), now, new Result().copyFrom(r)));
        freshAcceptances.merge(requestId, 1, Integer::sum);
        return r;
    }

    /**
     * A rejection charges nothing and reports the current state of the account the request names, if it exists:
     * the userId's, or for SETTLE and RELEASE the account of the hold (open, or expired by this very request).
     */
    private Result rejection(final Command c, final ResultCode code)
    {
        final Result r = new Result().reset().op(c.op()).code(code);
        if (c.op() == null)
        {
            return r;
        }
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
        final Account a = accounts.get(user);
        if (a != null)
        {
            fill(r, a, service, c.timestamp());
        }
        return r;
    }

    private ResultCode validate(final Command c)
    {
        final Op op = c.op();
        if (op == null)
        {
            return ResultCode.INVALID_ARGUMENT;
        }
        if (op == Op.TICK)
        {
            return null;
        }
        if (op == Op.QUERY)
        {
            return c.userId() <= 0 || c.serviceId() < 0 ? ResultCode.INVALID_ARGUMENT : null;
        }
        if (c.requestIdHi() == 0 && c.requestIdLo() == 0)
        {
            return ResultCode.INVALID_ARGUMENT;
        }
        switch (op)
        {
            case DEDUCT:
                if (c.userId() <= 0 || c.serviceId() <= 0)
                {
                    return ResultCode.INVALID_ARGUMENT;
                }
                return c.amount() <= 0 ? ResultCode.INVALID_AMOUNT : null;
            case RESERVE:
                if (c.userId() <= 0 || c.serviceId() <= 0 || c.ttlMillis() <= 0 ||
                    c.ttlMillis() > config.maxHoldTtlMillis())
                {
                    return ResultCode.INVALID_ARGUMENT;
                }
                return c.amount() <= 0 ? ResultCode.INVALID_AMOUNT : null;
            case SETTLE:
                if (c.holdIdHi() == 0 && c.holdIdLo() == 0)
                {
                    return ResultCode.INVALID_ARGUMENT;
                }
                return c.amount() < 0 ? ResultCode.INVALID_AMOUNT : null;
            case RELEASE:
                return c.holdIdHi() == 0 && c.holdIdLo() == 0 ? ResultCode.INVALID_ARGUMENT : null;
            case CREDIT:
                if (c.userId() <= 0)
                {
                    return ResultCode.INVALID_ARGUMENT;
                }
                return c.amount() <= 0 ? ResultCode.INVALID_AMOUNT : null;
            case GRANT:
                if (c.userId() <= 0 || c.serviceId() <= 0 || c.period() == null)
                {
                    return ResultCode.INVALID_ARGUMENT;
                }
                return c.amount() < 0 ? ResultCode.INVALID_AMOUNT : null;
            case SET_LIMIT:
                if (c.userId() <= 0)
                {
                    return ResultCode.INVALID_ARGUMENT;
                }
                return c.amount() < 0 ? ResultCode.INVALID_AMOUNT : null;
            case FREEZE:
            case UNFREEZE:
                return c.userId() <= 0 ? ResultCode.INVALID_ARGUMENT : null;
            default:
                throw new IllegalStateException("unexpected op " + op);
        }
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

    private Result query(final Command c, final Result r)
    {
        final Account a = accounts.get(c.userId());
        if (a == null)
        {
            return rejection(c, ResultCode.UNKNOWN_ACCOUNT);
        }
        fill(r, a, c.serviceId(), c.timestamp());
        return r;
    }

    private ResultCode deduct(final Command c, final Result r)
    {
        final Account a = accounts.get(c.userId());
        if (a == null)
        {
            return ResultCode.UNKNOWN_ACCOUNT;
        }
        if (a.frozen)
        {
            return ResultCode.FROZEN;
        }
        final long now = c.timestamp();
        final Quota q = a.quotas.get(c.serviceId());
        final long fromFree = Math.min(c.amount(), freeRemaining(q, now));
        final long fromBalance = c.amount() - fromFree;
        final BigInteger after = big(a.balance).subtract(big(fromBalance));
        if (after.compareTo(big(a.creditLimit).negate()) < 0)
        {
            return ResultCode.INSUFFICIENT_FUNDS;
        }
        if (!fits(after))
        {
            return ResultCode.AMOUNT_OVERFLOW;
        }
        if (q != null)
        {
            useFree(q, now, fromFree);
        }
        a.balance = after.longValueExact();
        a.charges = a.charges.add(big(fromBalance));
        r.fromFree(fromFree).fromBalance(fromBalance);
        fill(r, a, c.serviceId(), now);
        return ResultCode.OK;
    }

    private ResultCode reserve(final Command c, final Result r, final Id holdId)
    {
        final Account a = accounts.get(c.userId());
        if (a == null)
        {
            return ResultCode.UNKNOWN_ACCOUNT;
        }
        if (a.frozen)
        {
            return ResultCode.FROZEN;
        }
        final long now = c.timestamp();
        final Quota q = a.quotas.get(c.serviceId());
        final long fromFree = Math.min(c.amount(), freeRemaining(q, now));
        final long fromBalance = c.amount() - fromFree;
        final BigInteger after = big(a.balance).subtract(big(fromBalance));
        if (after.compareTo(big(a.creditLimit).negate()) < 0)
        {
            return ResultCode.INSUFFICIENT_FUNDS;
        }
        final BigInteger heldAfter = big(heldOf(a.userId)).add(big(c.amount()));
        final BigInteger expiresAt = big(now).add(big(c.ttlMillis()));
        if (!fits(after) || !fits(heldAfter) || !fits(expiresAt))
        {
            return ResultCode.AMOUNT_OVERFLOW;
        }
        if (openHolds.size() >= config.maxOpenHolds())
        {
            return ResultCode.CAPACITY_EXCEEDED;
        }
        if (q != null)
        {
            useFree(q, now, fromFree);
        }
        a.balance = after.longValueExact();
        a.charges = a.charges.add(big(fromBalance));
        openHolds.put(holdId, new Hold(holdId, a.userId, c.serviceId(), fromFree, fromBalance, q,
            q == null ? 0 : periodOf(q.type, now), expiresAt.longValueExact()));
        r.fromFree(fromFree).fromBalance(fromBalance);
        fill(r, a, c.serviceId(), now);
        return ResultCode.OK;
    }

    /**
     * SETTLE with {@code actual >= 0}, RELEASE with {@code actual = -1}.
     */
    private ResultCode settle(final Command c, final Result r, final long actual)
    {
        final long now = c.timestamp();
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
            .flags(actual > hold.total() ? Result.FLAG_EXCEEDED_HOLD : 0);
        fill(r, a, hold.serviceId(), now);
        return ResultCode.OK;
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
        expiredCount++;
        lastExpired.add(hold.id());
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

    private ResultCode credit(final Command c, final Result r)
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
        fill(r, a, 0, c.timestamp());
        return ResultCode.OK;
    }

    private ResultCode grant(final Command c, final Result r)
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
        final long now = c.timestamp();
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

    private ResultCode setting(final Command c, final Result r)
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
        fill(r, a, 0, c.timestamp());
        return ResultCode.OK;
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
