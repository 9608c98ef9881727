package io.quotaledger.core;

import java.time.DayOfWeek;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.temporal.TemporalAdjusters;
import java.util.SplittableRandom;

/**
 * A seeded generator of ledger commands for the randomized and replay tests: a few hundred users (a dozen hot),
 * a few services, valid and invalid fields, huge amounts for overflow, unknown users and holds, retries of earlier
 * request ids (same fields and changed fields), and time that advances irregularly with jumps to day, week and month
 * boundaries and past the dedupe window.
 *
 * <p>Gateway policy: every user may have a few virtual keys (ids {@code user * 16 + 1..3}), set, given budgets per
 * service, revoked, rate-limited, capped and windowed, with small limits so that they bite, tiny windows and
 * durations so that their boundaries are crossed (and hit exactly) all the time, huge units, multipliers and limits
 * for overflow at every multiply, and now and then a command stamped before the time already reached.
 *
 * <p>Two kinds of "whale" users exist for overflow: rich whales (huge credits, never RESERVE, so that no hold
 * returns onto a balance near Long.MAX_VALUE, which docs/semantics.md leaves undefined for expiry) and debt whales
 * (huge credit limit and free allowance, never CREDIT).
 */
final class RandomCommandGenerator
{
    static final long START = LocalDate.of(2023, 12, 27).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
    static final int NORMAL_USERS = 300;
    static final int HOT_USERS = 12;
    static final long[] RICH_WHALES = { 901, 902, 903 };
    static final long[] DEBT_WHALES = { 911, 912, 913 };
    static final int SERVICES = 5; // 1..4 granted, 5 never granted
    static final Period[] SERVICE_PERIOD = { null, Period.DAY, Period.WEEK, Period.MONTH, Period.DAY, Period.DAY };

    private static final int HISTORY = 8192;
    private static final int HOLD_IDS = 4096;

    static final int KEYS_PER_USER = 3;
    static final int GROUPS = 4;

    private final SplittableRandom rnd;
    private final LedgerConfig config;
    private final boolean policy;
    private final long start;
    private long now;
    private long idCounter;
    private final Command[] history = new Command[HISTORY];
    private long historyCount;
    private final long[] holdHi = new long[HOLD_IDS];
    private final long[] holdLo = new long[HOLD_IDS];
    private final long[] holdAmount = new long[HOLD_IDS];
    private long holdCount;
    private int setupStep;

    RandomCommandGenerator(final long seed, final LedgerConfig config)
    {
        this(seed, config, START, true);
    }

    /**
     * @param start  the first command's time.
     * @param policy whether to generate gateway policy (settings, keys and units on charges).
     */
    RandomCommandGenerator(final long seed, final LedgerConfig config, final long start, final boolean policy)
    {
        this.rnd = new SplittableRandom(seed);
        this.config = config;
        this.start = start;
        this.now = start;
        this.policy = policy;
        for (int i = 0; i < HISTORY; i++)
        {
            history[i] = new Command();
        }
    }

    long now()
    {
        return now;
    }

    long start()
    {
        return start;
    }

    /**
     * Fills {@code c} with the next command.
     */
    void next(final Command c)
    {
        c.reset();
        if (setupStep < 6)
        {
            setup(c, setupStep++);
            remember(c);
            return;
        }
        advanceTime();
        final int p = rnd.nextInt(policy ? 1200 : 1000);
        if (p >= 1000)
        {
            policyCommand(c, p - 1000);
        }
        else if (p < 100 && historyCount > 0)
        {
            retry(c);
        }
        else if (p < 330)
        {
            userCommand(c, Op.DEDUCT);
        }
        else if (p < 460)
        {
            userCommand(c, Op.RESERVE);
        }
        else if (p < 560)
        {
            holdCommand(c, Op.SETTLE);
        }
        else if (p < 600)
        {
            holdCommand(c, Op.RELEASE);
        }
        else if (p < 720)
        {
            userCommand(c, Op.CREDIT);
        }
        else if (p < 765)
        {
            userCommand(c, Op.GRANT);
        }
        else if (p < 785)
        {
            userCommand(c, Op.SET_LIMIT);
        }
        else if (p < 797)
        {
            userCommand(c, Op.FREEZE);
        }
        else if (p < 820)
        {
            userCommand(c, Op.UNFREEZE);
        }
        else if (p < 920)
        {
            userCommand(c, Op.QUERY);
        }
        else
        {
            c.op(Op.TICK);
        }
        c.timestamp(policy && rnd.nextInt(100) < 2 ? now - 1 - rnd.nextInt(5_000) : now); // time going back
        if (c.op().mutating())
        {
            remember(c);
        }
        if (c.op() == Op.RESERVE)
        {
            final int slot = (int)(holdCount++ % HOLD_IDS);
            holdHi[slot] = c.requestIdHi();
            holdLo[slot] = c.requestIdLo();
            holdAmount[slot] = c.amount();
        }
    }

    private void setup(final Command c, final int step)
    {
        c.timestamp(now);
        newRequestId(c);
        if (step < 3)
        {
            c.op(Op.CREDIT).userId(RICH_WHALES[step]).amount(Long.MAX_VALUE - 1_000_000 - rnd.nextInt(1000));
        }
        else
        {
            c.op(Op.GRANT).userId(DEBT_WHALES[step - 3]).serviceId(1).amount(Long.MAX_VALUE).period(Period.DAY);
        }
    }

    private void remember(final Command c)
    {
        history[(int)(historyCount++ % HISTORY)].copyFrom(c);
    }

    private void advanceTime()
    {
        final int p = rnd.nextInt(100_000);
        if (p < 45_000)
        {
            return;
        }
        if (p < 85_000)
        {
            now += 1 + rnd.nextInt(1000);
        }
        else if (p < 97_000)
        {
            now += 1 + rnd.nextInt(10_000);
        }
        else if (p < 99_600)
        {
            now += 1 + rnd.nextInt(120_000);
        }
        else if (p < 99_700)
        {
            // just before (or exactly at) a multiple of a window's bucket width or a key's duration
            final long[] units = { 1_000, 5_000, 12_000, 60_000, 3_600_000 };
            final long unit = units[rnd.nextInt(units.length)];
            now = Math.max(now, (Math.floorDiv(now, unit) + 1) * unit - rnd.nextInt(3));
        }
        else if (p < 99_900)
        {
            // past the hold ttl and around the dedupe window age
            now += 1 + rnd.nextLong(config.dedupeWindowMillis() + config.dedupeWindowMillis() / 2);
        }
        else if (p < 99_980)
        {
            // just before (or exactly at) the next day, week or month boundary
            final LocalDate today = LocalDate.ofEpochDay(Math.floorDiv(now, 86_400_000L));
            final LocalDate next;
            switch (rnd.nextInt(3))
            {
                case 0:
                    next = today.plusDays(1);
                    break;
                case 1:
                    next = today.with(TemporalAdjusters.next(DayOfWeek.MONDAY));
                    break;
                default:
                    next = today.with(TemporalAdjusters.firstDayOfNextMonth());
                    break;
            }
            final long boundary = next.toEpochDay() * 86_400_000L;
            now = Math.max(now, boundary - rnd.nextInt(3) * rnd.nextInt(5_000));
        }
        else
        {
            now += rnd.nextLong(40L * 86_400_000L);
        }
    }

    private void newRequestId(final Command c)
    {
        final int p = rnd.nextInt(100);
        if (p < 70)
        {
            c.requestId(rnd.nextLong(), rnd.nextLong());
        }
        else if (p < 85)
        {
            c.requestId(0, ++idCounter); // small ids, hi = 0
        }
        else if (p < 97)
        {
            c.requestId(-(1 + rnd.nextInt(4)), ++idCounter); // negative hi: signed ordering on expiry ties
        }
        else if (p < 99)
        {
            c.requestId(++idCounter, 0);
        }
        else
        {
            c.requestId(0, 0); // invalid
        }
    }

    private long user(final Op op)
    {
        final int p = rnd.nextInt(100);
        long user;
        if (p < 40)
        {
            user = 1 + rnd.nextInt(HOT_USERS);
        }
        else if (p < 85)
        {
            user = 1 + rnd.nextInt(NORMAL_USERS);
        }
        else if (p < 90)
        {
            user = rnd.nextBoolean() ? RICH_WHALES[rnd.nextInt(3)] : DEBT_WHALES[rnd.nextInt(3)];
        }
        else if (p < 96)
        {
            user = 10_000 + rnd.nextInt(100); // unknown (or beyond capacity)
        }
        else
        {
            final int q = rnd.nextInt(3);
            user = q == 0 ? 0 : q == 1 ? -(1 + rnd.nextInt(100)) : Long.MIN_VALUE;
        }
        if ((op == Op.RESERVE && isRichWhale(user)) || (op == Op.CREDIT && isDebtWhale(user)))
        {
            user = 1 + rnd.nextInt(NORMAL_USERS);
        }
        return user;
    }

    static boolean isRichWhale(final long user)
    {
        return user >= 901 && user <= 903;
    }

    static boolean isDebtWhale(final long user)
    {
        return user >= 911 && user <= 913;
    }

    private int service(final boolean optional)
    {
        final int p = rnd.nextInt(100);
        if (optional && p < 30)
        {
            return 0;
        }
        if (p < 96)
        {
            return 1 + rnd.nextInt(SERVICES);
        }
        return p < 98 ? 0 : -1 - rnd.nextInt(10);
    }

    private long amount(final long user, final Op op)
    {
        final boolean whale = isRichWhale(user) || isDebtWhale(user);
        final int p = rnd.nextInt(100);
        if (whale && p < 50)
        {
            return Long.MAX_VALUE / (1 + rnd.nextInt(4)) - rnd.nextInt(1000);
        }
        if (p < 60)
        {
            return 1 + rnd.nextInt(op == Op.CREDIT ? 2000 : 500);
        }
        if (p < 85)
        {
            return 1 + rnd.nextInt(op == Op.CREDIT ? 100_000 : 10_000);
        }
        if (p < 91)
        {
            return 0;
        }
        if (p < 96)
        {
            return rnd.nextBoolean() ? -(1 + rnd.nextInt(1000)) : Long.MIN_VALUE;
        }
        return rnd.nextBoolean() ? Long.MAX_VALUE - rnd.nextInt(1000) : 1L << 62;
    }

    private void userCommand(final Command c, final Op op)
    {
        c.op(op);
        final long user = user(op);
        c.userId(user);
        if (op == Op.QUERY)
        {
            c.serviceId(service(true));
            if (policy && rnd.nextInt(100) < 30)
            {
                c.virtualKeyId(key(user));
            }
            return;
        }
        newRequestId(c);
        switch (op)
        {
            case DEDUCT:
                c.serviceId(service(false)).amount(amount(user, op));
                policyCharge(c, user);
                break;
            case RESERVE:
                c.serviceId(service(false)).amount(amount(user, op)).ttlMillis(ttl());
                policyCharge(c, user);
                break;
            case CREDIT:
                c.amount(amount(user, op));
                break;
            case GRANT:
            {
                final int service = service(false);
                c.serviceId(service);
                final int p = rnd.nextInt(100);
                if (isDebtWhale(user) || (isRichWhale(user) && p < 50))
                {
                    c.amount(Long.MAX_VALUE - rnd.nextInt(3));
                }
                else
                {
                    c.amount(p < 10 ? 0 : p < 13 ? -1 - rnd.nextInt(5) : rnd.nextInt(300));
                }
                final int q = rnd.nextInt(100);
                if (q < 3)
                {
                    c.period(null);
                }
                else if (q < 12 || service <= 0 || service > SERVICES)
                {
                    c.period(Period.values()[rnd.nextInt(3)]);
                }
                else
                {
                    c.period(SERVICE_PERIOD[service]);
                }
                break;
            }
            case SET_LIMIT:
            {
                final int p = rnd.nextInt(100);
                if (isDebtWhale(user))
                {
                    c.amount(p < 80 ? Long.MAX_VALUE - rnd.nextInt(3) : rnd.nextInt(1000));
                }
                else
                {
                    c.amount(p < 30 ? 0 : p < 85 ? rnd.nextInt(5000) : p < 92 ? -1 - rnd.nextInt(10) :
                        p < 96 ? Long.MAX_VALUE : Long.MIN_VALUE);
                }
                break;
            }
            default:
                break; // FREEZE, UNFREEZE
        }
    }

    private long ttl()
    {
        final long max = config.maxHoldTtlMillis();
        final int p = rnd.nextInt(100);
        if (p < 30)
        {
            return 1 + rnd.nextLong(max);
        }
        if (p < 55)
        {
            return 1 + rnd.nextInt(5_000);
        }
        if (p < 75)
        {
            return 60_000; // equal expiries for the tie order
        }
        if (p < 90)
        {
            return max;
        }
        if (p < 94)
        {
            return 0;
        }
        if (p < 97)
        {
            return -1 - rnd.nextInt(1000);
        }
        return max + 1 + rnd.nextInt(3);
    }

    private void holdCommand(final Command c, final Op op)
    {
        c.op(op);
        newRequestId(c);
        final int p = rnd.nextInt(100);
        long amount = 1 + rnd.nextInt(500);
        if (p < 75 && holdCount > 0)
        {
            final long back = Math.min(holdCount, p < 55 ? 64 : HOLD_IDS);
            final int slot = (int)((holdCount - 1 - rnd.nextLong(back)) % HOLD_IDS);
            c.holdId(holdHi[slot], holdLo[slot]);
            amount = holdAmount[slot];
        }
        else if (p < 95)
        {
            c.holdId(rnd.nextLong(), rnd.nextLong()); // unknown
        }
        else
        {
            c.holdId(0, 0); // invalid
        }
        if (op == Op.SETTLE)
        {
            final int q = rnd.nextInt(100);
            final long hold = Math.max(amount, 1);
            if (q < 40)
            {
                c.amount(hold == Long.MAX_VALUE ? rnd.nextLong(hold) : rnd.nextLong(hold + 1));
            }
            else if (q < 55)
            {
                c.amount(hold);
            }
            else if (q < 65)
            {
                c.amount(0);
            }
            else if (q < 80)
            {
                c.amount(hold > Long.MAX_VALUE - 1001 ? Long.MAX_VALUE : hold + 1 + rnd.nextInt(1000));
            }
            else if (q < 85)
            {
                // at the settle cap, or just past it
                final long cap = Math.max(hold, config.maxSettleExcess());
                final long atCap = cap > Long.MAX_VALUE - hold ? Long.MAX_VALUE : hold + cap;
                c.amount(atCap == Long.MAX_VALUE || rnd.nextBoolean() ? atCap : atCap + 1);
            }
            else if (q < 92)
            {
                c.amount(-1 - rnd.nextInt(10));
            }
            else
            {
                c.amount(Long.MAX_VALUE - rnd.nextInt(10));
            }
        }
    }

    private void retry(final Command c)
    {
        final long back = Math.min(historyCount, rnd.nextInt(100) < 50 ? 100 : rnd.nextBoolean() ? 2000 : HISTORY);
        final Command original = history[(int)((historyCount - 1 - rnd.nextLong(back)) % HISTORY)];
        c.copyFrom(original);
        if (rnd.nextInt(100) < 35)
        {
            // same id, different fields
            switch (c.op())
            {
                case RELEASE:
                    c.holdId(c.holdIdHi(), c.holdIdLo() + 1);
                    break;
                case FREEZE:
                    c.op(Op.UNFREEZE);
                    break;
                case UNFREEZE:
                    c.op(Op.FREEZE);
                    break;
                case RESERVE:
                    if (c.ttlMillis() > 1)
                    {
                        c.ttlMillis(c.ttlMillis() - 1);
                    }
                    else
                    {
                        c.amount(c.amount() + 1);
                    }
                    break;
                case DEDUCT:
                    if (rnd.nextBoolean() && !isDebtWhale(c.userId()))
                    {
                        c.op(Op.CREDIT).serviceId(0); // another operation, named fields only
                        break;
                    }
                    c.amount(c.amount() == Long.MAX_VALUE ? 1 : c.amount() + 1);
                    break;
                default:
                    c.amount(c.amount() == Long.MAX_VALUE ? 1 : c.amount() + 1);
                    break;
            }
        }
    }

    static long keyOf(final long user, final int k)
    {
        return user * 16 + k;
    }

    /**
     * @return mostly a key of the user, sometimes another user's, an unknown or an invalid one.
     */
    private long key(final long user)
    {
        final int p = rnd.nextInt(100);
        if (p < 88)
        {
            return keyOf(user, 1 + rnd.nextInt(KEYS_PER_USER));
        }
        if (p < 95)
        {
            return keyOf(1 + rnd.nextInt(HOT_USERS), 1 + rnd.nextInt(KEYS_PER_USER)); // often another user's
        }
        if (p < 98)
        {
            return keyOf(user, 4 + rnd.nextInt(8)); // never set
        }
        return -(1 + rnd.nextInt(100));
    }

    /**
     * A DEDUCT or RESERVE goes through a key (about half), and asks for units to be priced instead of an amount
     * (about a third), now and then wrongly both or neither.
     */
    private void policyCharge(final Command c, final long user)
    {
        if (!policy)
        {
            return;
        }
        if (rnd.nextInt(100) < 50)
        {
            c.virtualKeyId(key(user));
        }
        final int p = rnd.nextInt(100);
        if (p < 30)
        {
            c.amount(0).units(units());
        }
        else if (p < 32)
        {
            c.units(units()); // both: invalid
        }
    }

    private long units()
    {
        final int p = rnd.nextInt(100);
        if (p < 70)
        {
            return 1 + rnd.nextInt(400);
        }
        if (p < 85)
        {
            return 1 + rnd.nextInt(20_000);
        }
        if (p < 92)
        {
            return Long.MAX_VALUE / (1 + rnd.nextInt(1_000_000)) - rnd.nextInt(3); // overflow when priced
        }
        if (p < 96)
        {
            return 0;
        }
        return -(1 + rnd.nextInt(10));
    }

    private long duration()
    {
        final int p = rnd.nextInt(100);
        if (p < 20)
        {
            return 1 + rnd.nextInt(24); // windows of 1-2 ms buckets: every tick of time is a boundary
        }
        if (p < 45)
        {
            return 12_000;
        }
        if (p < 60)
        {
            return 1_000 + rnd.nextInt(60_000);
        }
        if (p < 72)
        {
            return 3_600_000;
        }
        if (p < 80)
        {
            return 5 * 3_600_000;
        }
        if (p < 88)
        {
            return 7 * 86_400_000L;
        }
        if (p < 94)
        {
            return 1 + rnd.nextLong(LedgerConfig.MAX_POLICY_DURATION_MILLIS);
        }
        if (p < 97)
        {
            return LedgerConfig.MAX_POLICY_DURATION_MILLIS + (rnd.nextBoolean() ? 0 : 1);
        }
        return rnd.nextBoolean() ? 0 : -(1 + rnd.nextInt(1000));
    }

    private void policyCommand(final Command c, final int p)
    {
        final long user = user(Op.SET_LIMIT);
        newRequestId(c);
        c.userId(user);
        if (p < 50)
        {
            setVirtualKey(c, user);
        }
        else if (p < 62)
        {
            c.op(Op.SET_VIRTUAL_KEY_SERVICE_BUDGET).virtualKeyId(key(user)).serviceId(service(false));
            final int q = rnd.nextInt(100);
            c.amount(q < 20 ? -1 : q < 23 ? -2 - rnd.nextInt(5) : q < 90 ? rnd.nextInt(3_000) : Long.MAX_VALUE);
        }
        else if (p < 64)
        {
            // revocation is final: only the third key of a user is ever revoked, the others keep working
            c.op(Op.REVOKE_VIRTUAL_KEY).virtualKeyId(rnd.nextInt(10) == 0 ? key(user) : keyOf(user, KEYS_PER_USER));
        }
        else if (p < 76)
        {
            c.userId(0).op(Op.SET_PRICE).groupId(rnd.nextInt(100) < 97 ? rnd.nextInt(GROUPS) : -1)
                .serviceId(service(true)).multiplier(multiplier());
        }
        else if (p < 88)
        {
            c.op(Op.SET_GROUP).groupId(rnd.nextInt(100) < 97 ? rnd.nextInt(GROUPS) : -1 - rnd.nextInt(3));
        }
        else if (p < 130)
        {
            c.op(Op.SET_RATE_LIMIT).virtualKeyId(rnd.nextBoolean() ? 0 : key(user)).perMillis(duration());
            final int q = rnd.nextInt(100);
            if (q < 10)
            {
                c.requests(0).units(0); // removes
            }
            else if (q < 80)
            {
                c.requests(rnd.nextInt(4) == 0 ? 0 : 1 + rnd.nextInt(12))
                    .units(rnd.nextInt(3) == 0 ? 0 : 1 + rnd.nextInt(5_000));
            }
            else if (q < 95)
            {
                // limits and costs whose product needs 128 bits
                c.requests(1 + rnd.nextLong(Long.MAX_VALUE - 1)).units(Long.MAX_VALUE / (1 + rnd.nextInt(1_000)));
            }
            else
            {
                c.requests(-rnd.nextInt(3)).units(-rnd.nextInt(3));
            }
        }
        else if (p < 170)
        {
            c.op(Op.SET_SPEND_WINDOW).virtualKeyId(rnd.nextBoolean() ? 0 : key(user)).perMillis(duration());
            final int q = rnd.nextInt(100);
            c.amount(q < 15 ? 0 : q < 60 ? 1 + rnd.nextInt(3_000) : q < 95 ? 1 + rnd.nextInt(100_000) :
                q < 98 ? Long.MAX_VALUE - rnd.nextInt(3) : -1);
        }
        else
        {
            c.op(Op.SET_CONCURRENCY).virtualKeyId(rnd.nextBoolean() ? 0 : key(user));
            final int q = rnd.nextInt(100);
            c.amount(q < 20 ? 0 : q < 95 ? 1 + rnd.nextInt(2) : q < 98 ? Long.MAX_VALUE : -1);
        }
    }

    private long multiplier()
    {
        final int p = rnd.nextInt(100);
        if (p < 30)
        {
            return Command.MULTIPLIER_ONE;
        }
        if (p < 75)
        {
            return 1 + rnd.nextInt(3_000_000);
        }
        if (p < 85)
        {
            return 1 + rnd.nextInt(10);
        }
        if (p < 95)
        {
            return Long.MAX_VALUE / (1 + rnd.nextInt(1_000_000));
        }
        return -rnd.nextInt(3);
    }

    private void setVirtualKey(final Command c, final long user)
    {
        c.op(Op.SET_VIRTUAL_KEY);
        final int k = rnd.nextInt(100);
        c.virtualKeyId(k < 90 ? keyOf(user, 1 + rnd.nextInt(KEYS_PER_USER)) : k < 96 ?
            keyOf(1 + rnd.nextInt(NORMAL_USERS), 1 + rnd.nextInt(KEYS_PER_USER)) : -rnd.nextInt(3));
        final int b = rnd.nextInt(100);
        if (b < 20)
        {
            c.unlimited(true).amount(rnd.nextBoolean() ? 0 : -rnd.nextInt(5));
        }
        else
        {
            c.amount(b < 75 ? rnd.nextInt(3_000) : b < 90 ? rnd.nextInt(200_000) :
                b < 97 ? Long.MAX_VALUE - rnd.nextInt(3) : -1 - rnd.nextInt(3));
        }
        final int r = rnd.nextInt(100);
        if (r < 30)
        {
            c.resetPeriod(null).resetMillis(0);
        }
        else if (r < 55)
        {
            c.resetPeriod(Period.values()[rnd.nextInt(3)]);
        }
        else if (r < 97)
        {
            c.resetMillis(duration());
        }
        else
        {
            c.resetPeriod(Period.DAY).resetMillis(1_000); // both: invalid
        }
        final int e = rnd.nextInt(100);
        c.expiresAt(e < 70 ? 0 : e < 95 ? now + rnd.nextInt(7_200_000) : e < 98 ? Math.max(0, now - 1_000) : -1);
        final int s = rnd.nextInt(100);
        if (s >= 65)
        {
            final int n = s < 97 ? 1 + rnd.nextInt(3) : Command.MAX_SERVICES + 1;
            for (int i = 0; i < n; i++)
            {
                c.addService(s < 99 ? 1 + rnd.nextInt(SERVICES) : -rnd.nextInt(2));
            }
        }
    }
}
