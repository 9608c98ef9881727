package io.quotaledger.projector;

import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.JournalAppender;
import org.agrona.ExpandableArrayBuffer;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;

/**
 * Gateway policy outcomes built directly with the core's {@link Outcome} API (no business rules): a seeded random
 * mix of credits, charges and holds with and without a POLICY_APPLIED (through a virtual key or the user's own
 * limits), closes of keyed holds (settles under and over the hold, releases, expiries caused by any operation),
 * rejections with every result code, and every policy setting including removals. As it builds them it keeps what
 * each new table must hold, applying the outcomes one by one in journal order: the projection must match however
 * its batches cut them.
 */
final class PolicyOutcomes
{
    static final long START_TIME = Workload.START_TIME;
    private static final int USERS = 6;
    private static final int SERVICES = 3;
    private static final long HOUR = 3_600_000L;
    private static final long[] WINDOWS = { 3_600_000L, 5 * HOUR, 7 * 24 * HOUR };

    private final Random random;
    private final ExpandableArrayBuffer outcomes = new ExpandableArrayBuffer(1 << 20);
    private final Outcome outcome = new Outcome();
    private int count;
    private int appended;
    private long time = START_TIME;
    private long request;
    private long nextKey = 1_000;

    private final long[] balance = new long[USERS + 1];
    /** key -> owner; revoked keys stay. */
    private final Map<Long, Long> owner = new HashMap<>();
    private final Map<Long, Boolean> revoked = new HashMap<>();
    /** Open holds by request id: user, service, fromFree, fromBalance, key (0: none), with a POLICY_APPLIED. */
    private final Map<Long, long[]> holds = new HashMap<>();

    // what the tables must hold, as strings (see PolicyProjectorTest#tables for the SQL side)
    final Map<String, long[]> keyUsage = new TreeMap<>();
    final Map<String, Long> rejections = new TreeMap<>();
    final Map<Long, KeyRow> keys = new TreeMap<>();
    final Map<String, long[]> serviceBudgets = new TreeMap<>();
    final Map<String, String> prices = new TreeMap<>();
    final Map<Long, String> groups = new TreeMap<>();
    final Map<String, String> rateLimits = new TreeMap<>();
    final Map<String, String> spendWindows = new TreeMap<>();
    final Map<String, String> concurrency = new TreeMap<>();
    int policyApplied;
    int keyedCloses;

    /**
     * A row of virtual_keys, printed in its column order.
     */
    static final class KeyRow
    {
        long user;
        boolean unlimited;
        Long budget;
        String reset;
        Long every;
        Long expires;
        String services;
        boolean revoked;
        Long revokedAt;
        long spent;
        long spentPeriod;
        Long spentAt;
        long createdAt;
        long updatedAt;

        public String toString()
        {
            return user + " " + unlimited + " " + budget + " " + reset + " " + every + " " + expires + " " + services +
                " " + revoked + " " + revokedAt + " " + spent + " " + spentPeriod + " " + spentAt + " " + createdAt +
                " " + updatedAt;
        }
    }

    PolicyOutcomes(final long seed)
    {
        this.random = new Random(seed);
        for (int user = 1; user <= USERS; user++)
        {
            credit(user, 1_000_000);
        }
    }

    int count()
    {
        return count;
    }

    /**
     * Builds outcomes until at least {@code target} exist.
     */
    void produceUntil(final int target)
    {
        while (count < target)
        {
            step();
        }
    }

    /**
     * Appends every outcome built since the last call, in documents of at most {@code perDocument}.
     */
    void appendNew(final JournalAppender appender, final int perDocument)
    {
        while (appended < count)
        {
            final int n = Math.min(perDocument, count - appended);
            appender.append(appended + 1, outcomes, appended * Outcome.LENGTH, n);
            appender.flush();
            appended += n;
        }
    }

    Outcome outcome(final long sequence)
    {
        final Outcome o = new Outcome();
        if (!o.decode(outcomes, (int)(sequence - 1) * Outcome.LENGTH))
        {
            throw new IllegalStateException("outcome " + sequence);
        }
        return o;
    }

    private void step()
    {
        time += random.nextInt(600_000); // 5 min apart on average: hours go by
        request++;
        final long user = 1 + random.nextInt(USERS);
        final int service = 1 + random.nextInt(SERVICES);
        final int dice = random.nextInt(100);
        if (dice < 4)
        {
            credit(user, 1 + random.nextInt(10_000));
        }
        else if (dice < 10)
        {
            setKey(user);
        }
        else if (dice < 14)
        {
            setServiceBudget(user, service);
        }
        else if (dice < 15)
        {
            final long key = key(user);
            if (key != 0 && !revoked.get(key))
            {
                revoked.put(key, true);
                final KeyRow row = keys.get(key);
                row.revoked = true;
                row.revokedAt = time;
                row.updatedAt = time;
                emit(start(OutcomeType.VIRTUAL_KEY_REVOKED, Op.REVOKE_VIRTUAL_KEY).userId(user).virtualKeyId(key));
            }
        }
        else if (dice < 17)
        {
            final int group = random.nextInt(3);
            final long multiplier = 1 + random.nextInt(3_000_000);
            final int priced = random.nextInt(SERVICES + 1); // 0: the group's default
            prices.put(group + "/" + priced, BigDecimal.valueOf(multiplier, 6).toPlainString() + " " + time);
            emit(start(OutcomeType.PRICE_SET, Op.SET_PRICE).groupId(group).serviceId(priced).multiplier(multiplier));
        }
        else if (dice < 19)
        {
            final int group = random.nextInt(3);
            groups.put(user, group + " " + time);
            emit(start(OutcomeType.GROUP_SET, Op.SET_GROUP).userId(user).groupId(group));
        }
        else if (dice < 22)
        {
            final long key = random.nextBoolean() ? 0 : key(user);
            final boolean remove = random.nextInt(4) == 0;
            final long requests = remove ? 0 : random.nextInt(3) * 50;
            final long units = remove ? 0 : (requests == 0 ? 1 : random.nextInt(2)) * (1 + random.nextInt(100_000));
            final long per = 1 + random.nextInt(3_600_000);
            if (requests == 0 && units == 0)
            {
                rateLimits.remove(user + "/" + key);
            }
            else
            {
                rateLimits.put(user + "/" + key, requests + " " + units + " " + per + " " + time);
            }
            emit(start(OutcomeType.RATE_LIMIT_SET, Op.SET_RATE_LIMIT).userId(user).virtualKeyId(key)
                .requests(requests).units(units).perMillis(per));
        }
        else if (dice < 25)
        {
            final long key = random.nextBoolean() ? 0 : key(user);
            final long per = WINDOWS[random.nextInt(WINDOWS.length)];
            final long max = random.nextInt(4) == 0 ? 0 : 1 + random.nextInt(1_000_000);
            if (max == 0)
            {
                spendWindows.remove(user + "/" + key + "/" + per);
            }
            else
            {
                spendWindows.put(user + "/" + key + "/" + per, max + " " + time);
            }
            emit(start(OutcomeType.SPEND_WINDOW_SET, Op.SET_SPEND_WINDOW).userId(user).virtualKeyId(key)
                .amount(max).perMillis(per));
        }
        else if (dice < 27)
        {
            final long key = random.nextBoolean() ? 0 : key(user);
            final long max = random.nextInt(4) == 0 ? 0 : 1 + random.nextInt(20);
            if (max == 0)
            {
                concurrency.remove(user + "/" + key);
            }
            else
            {
                concurrency.put(user + "/" + key, max + " " + time);
            }
            emit(start(OutcomeType.CONCURRENCY_SET, Op.SET_CONCURRENCY).userId(user).virtualKeyId(key).amount(max));
        }
        else if (dice < 37)
        {
            reject(user, service);
        }
        else if (dice < 52)
        {
            reserve(user, service);
        }
        else if (dice < 67 && !holds.isEmpty())
        {
            close(new ArrayList<>(holds.keySet()).get(random.nextInt(holds.size())));
        }
        else
        {
            deduct(user, service);
        }
    }

    private void credit(final long user, final long amount)
    {
        balance[(int)user] += amount;
        emit(start(OutcomeType.CREDITED, Op.CREDIT).userId(user).amount(amount).balanceAfter(balance[(int)user]));
    }

    private void setKey(final long user)
    {
        long key = key(user);
        if (key == 0 || random.nextInt(3) == 0)
        {
            key = nextKey++;
            owner.put(key, user);
            revoked.put(key, false);
        }
        if (revoked.get(key))
        {
            return; // revocation is final: the ledger rejects it
        }
        final boolean unlimited = random.nextInt(4) == 0;
        final long budget = unlimited ? -1 : random.nextInt(1_000_000);
        final int reset = random.nextInt(5);
        final Period period = reset < 3 ? Period.values()[reset] : null;
        final long every = reset == 3 ? 1 + random.nextInt(7 * 86_400_000) : 0;
        final long expires = random.nextBoolean() ? 0 : time + random.nextInt(86_400_000);
        final int[] services = new int[random.nextInt(4)];
        for (int i = 0; i < services.length; i++)
        {
            services[i] = 1 + random.nextInt(100);
        }
        final Outcome o = start(OutcomeType.VIRTUAL_KEY_SET, Op.SET_VIRTUAL_KEY).userId(user).virtualKeyId(key)
            .flags(unlimited ? Outcome.FLAG_UNLIMITED : 0).amount(budget).resetPeriod(period).resetMillis(every)
            .expiresAt(expires);
        for (final int s : services)
        {
            o.addService(s);
        }
        KeyRow row = keys.get(key);
        if (row == null)
        {
            row = new KeyRow();
            row.createdAt = time;
            keys.put(key, row);
        }
        row.user = user;
        row.unlimited = unlimited;
        row.budget = unlimited ? null : budget;
        row.reset = period != null ? period.name() : every > 0 ? "DURATION" : "NEVER";
        row.every = every > 0 ? every : null;
        row.expires = expires == 0 ? null : expires;
        row.services = services.length == 0 ? null :
            Arrays.toString(services).replace('[', '{').replace(']', '}').replace(" ", "");
        row.updatedAt = time; // spent, spent_period and spent_at: only POLICY_APPLIED moves them
        emit(o);
    }

    private void setServiceBudget(final long user, final int service)
    {
        final long key = key(user);
        if (key == 0 || revoked.get(key))
        {
            return;
        }
        final String row = key + "/" + service;
        final long budget = random.nextInt(4) == 0 ? -1 : random.nextInt(100_000);
        if (budget < 0)
        {
            serviceBudgets.remove(row);
        }
        else
        {
            final long[] earlier = serviceBudgets.get(row);
            // user, budget, spent, period, spentAt (-1: NULL), updatedAt: an existing row keeps its spend
            serviceBudgets.put(row, earlier == null ? new long[] { user, budget, 0, 0, -1, time } :
                new long[] { user, budget, earlier[2], earlier[3], earlier[4], time });
        }
        emit(start(OutcomeType.VIRTUAL_KEY_SERVICE_BUDGET_SET, Op.SET_VIRTUAL_KEY_SERVICE_BUDGET).userId(user)
            .virtualKeyId(key).serviceId(service).amount(budget));
    }

    private void reject(final long user, final int service)
    {
        final ResultCode[] codes = ResultCode.values();
        ResultCode code = codes[1 + random.nextInt(codes.length - 1)];
        if (code == ResultCode.UNAVAILABLE || code == ResultCode.INTERNAL_ERROR)
        {
            code = ResultCode.RATE_LIMITED; // never journaled as rejections; keep the mix on policy codes
        }
        final long key = random.nextBoolean() ? 0 : 1 + random.nextInt((int)nextKey); // known keys or not
        final long units = random.nextBoolean() ? 0 : 1 + random.nextInt(5_000);
        final long retry = code == ResultCode.RATE_LIMITED || code == ResultCode.SPEND_WINDOW_EXCEEDED ?
            random.nextInt(60_000) - 1 : 0;
        final Op op = random.nextInt(5) == 0 ? Op.RESERVE : Op.DEDUCT;
        rejections.merge(user + "/" + key + "/" + service + "/" + hour() + "/" + code.name(), 1L, Long::sum);
        if (key != 0)
        {
            usage(user, key, service)[3]++;
        }
        emit(start(OutcomeType.REJECTED, op).code(code).userId(user).serviceId(service).virtualKeyId(key)
            .units(units).amount(units == 0 ? 1 + random.nextInt(100) : 0).retryAfterMillis(retry));
    }

    private void deduct(final long user, final int service)
    {
        expireOneNow(Op.DEDUCT);
        final long amount = 1 + random.nextInt(500);
        final long fromFree = random.nextInt(4) == 0 ? Math.min(amount, random.nextInt(50)) : 0;
        balance[(int)user] -= amount - fromFree;
        emit(start(OutcomeType.CHARGED, Op.DEDUCT).userId(user).serviceId(service).amount(amount)
            .fromFree(fromFree).fromBalance(amount - fromFree).balanceAfter(balance[(int)user]));
        policy(Op.DEDUCT, user, service, amount, pickKey(user));
    }

    private void reserve(final long user, final int service)
    {
        expireOneNow(Op.RESERVE);
        final long amount = 1 + random.nextInt(500);
        final long fromFree = random.nextInt(4) == 0 ? Math.min(amount, random.nextInt(50)) : 0;
        balance[(int)user] -= amount - fromFree;
        emit(start(OutcomeType.HOLD_OPENED, Op.RESERVE).userId(user).serviceId(service).amount(amount)
            .holdId(5, request).fromFree(fromFree).fromBalance(amount - fromFree).balanceAfter(balance[(int)user])
            .expiresAt(time + 3_600_000));
        final long key = pickKey(user);
        final boolean policy = key >= 0;
        holds.put(request, new long[] { user, service, fromFree, amount - fromFree, Math.max(0, key), policy ? 1 : 0 });
        policy(Op.RESERVE, user, service, amount, key);
    }

    /**
     * Closes a hold: a settle (under or over the hold), a release, or an expiry caused by any operation.
     */
    private void close(final long id)
    {
        final long[] hold = holds.remove(id);
        final long user = hold[0];
        final int service = (int)hold[1];
        final long held = hold[2] + hold[3];
        final int kind = random.nextInt(3);
        final long actual = kind == 0 ? random.nextInt((int)(2 * held) + 1) : 0;
        final long finalFree = Math.min(actual, hold[2]);
        final long finalPaid = actual - finalFree;
        balance[(int)user] += hold[3] - finalPaid;
        final OutcomeType type = kind == 0 ? OutcomeType.HOLD_SETTLED :
            kind == 1 ? OutcomeType.HOLD_RELEASED : OutcomeType.HOLD_EXPIRED;
        final Op op = kind == 0 ? Op.SETTLE : kind == 1 ? Op.RELEASE :
            Op.values()[random.nextInt(Op.values().length)];
        final long requestId = kind == 2 ? id : request;
        emit(start(type, op).requestId(5, requestId).holdId(5, id).userId(user).serviceId(service).amount(actual)
            .fromFree(finalFree).fromBalance(finalPaid).returnedFree(hold[2] - finalFree)
            .returnedBalance(Math.max(0, hold[3] - finalPaid)).balanceAfter(balance[(int)user]));
        if (hold[4] != 0)
        {
            usage(user, hold[4], service)[2] += actual - held;
            keyedCloses++;
        }
        if (hold[5] != 0)
        {
            // the close's own POLICY_APPLIED: same op and request id, the final charge
            policyApplied(op, requestId, user, service, actual, 0, hold[4]);
        }
    }

    /**
     * @return a key of the user to charge through (revoked or not: the rules are not run here), 0 for the user's
     * own limits only, -1 for no policy at all.
     */
    private long pickKey(final long user)
    {
        final int dice = random.nextInt(10);
        if (dice < 3)
        {
            return -1;
        }
        return dice < 5 ? 0 : key(user);
    }

    /**
     * The POLICY_APPLIED after a charge or a hold opened: a request through the key (none when 0).
     */
    private void policy(final Op op, final long user, final int service, final long amount, final long key)
    {
        if (key < 0)
        {
            return;
        }
        final long units = random.nextBoolean() ? 0 : 1 + random.nextInt(100_000);
        if (key != 0)
        {
            final long[] u = usage(user, key, service);
            u[0]++;
            u[1] += units;
            u[2] += amount;
        }
        policyApplied(op, this.request, user, service, amount, units, key);
    }

    /**
     * Sometimes a command expires an older hold before its own outcomes, as the ledger does with due holds: the
     * expiry and its POLICY_APPLIED carry the command's op (a DEDUCT or RESERVE here) and an amount of 0.
     */
    private void expireOneNow(final Op cause)
    {
        if (random.nextInt(8) != 0 || holds.isEmpty())
        {
            return;
        }
        final long id = new ArrayList<>(holds.keySet()).get(random.nextInt(holds.size()));
        final long[] hold = holds.remove(id);
        final long user = hold[0];
        final int service = (int)hold[1];
        balance[(int)user] += hold[3];
        emit(start(OutcomeType.HOLD_EXPIRED, cause).requestId(5, id).holdId(5, id).userId(user).serviceId(service)
            .returnedFree(hold[2]).returnedBalance(hold[3]).balanceAfter(balance[(int)user]));
        if (hold[4] != 0)
        {
            usage(user, hold[4], service)[2] -= hold[2] + hold[3];
            keyedCloses++;
        }
        if (hold[5] != 0)
        {
            policyApplied(cause, id, user, service, 0, 0, hold[4]);
        }
    }

    private void policyApplied(final Op op, final long requestId, final long user, final int service,
        final long amount, final long units, final long key)
    {
        final long spent = random.nextInt(1_000_000);
        final long serviceSpent = random.nextInt(100_000);
        final long period = random.nextInt(5);
        if (key != 0)
        {
            final KeyRow row = keys.get(key);
            row.spent = spent;
            row.spentPeriod = period;
            row.spentAt = time;
            final long[] budget = serviceBudgets.get(key + "/" + service);
            if (budget != null)
            {
                budget[2] = serviceSpent;
                budget[3] = period;
                budget[4] = time;
            }
        }
        policyApplied++;
        emit(start(OutcomeType.POLICY_APPLIED, op).requestId(5, requestId).userId(user).serviceId(service)
            .virtualKeyId(key).amount(amount).units(units).keySpentAfter(spent).keyServiceSpentAfter(serviceSpent)
            .keyPeriodId(period).userRequestsTat(time * 1_000 + 7).keyUnitsTat(key == 0 ? 0 : time * 1_000 + 9));
    }

    private long key(final long user)
    {
        final List<Long> mine = new ArrayList<>();
        owner.forEach((key, of) ->
        {
            if (of == user)
            {
                mine.add(key);
            }
        });
        mine.sort(Long::compare);
        return mine.isEmpty() ? 0 : mine.get(random.nextInt(mine.size()));
    }

    private long[] usage(final long user, final long key, final int service)
    {
        return keyUsage.computeIfAbsent(user + "/" + key + "/" + service + "/" + hour(), k -> new long[4]);
    }

    private long hour()
    {
        return Math.floorDiv(time, HOUR) * HOUR;
    }

    private Outcome start(final OutcomeType type, final Op op)
    {
        return outcome.reset(type, op, time).requestId(5, request).fingerprint(request * 31);
    }

    private void emit(final Outcome o)
    {
        o.encode(outcomes, count * Outcome.LENGTH);
        count++;
    }

    /**
     * @return the open holds' ids and keys, as open_holds must hold them.
     */
    Map<UUID, Long> openHoldKeys()
    {
        final Map<UUID, Long> open = new TreeMap<>();
        holds.forEach((id, hold) -> open.put(new UUID(5, id), hold[4]));
        return open;
    }
}
