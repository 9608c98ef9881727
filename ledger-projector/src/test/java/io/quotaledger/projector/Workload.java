package io.quotaledger.projector;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.JournalAppender;
import org.agrona.ExpandableArrayBuffer;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * A seeded random workload on a real {@link Ledger}: every operation, several services and period types, holds that
 * settle (under, at and over the hold), release and expire, rejections and retries, time running over days. Users
 * get a virtual key (with a budget, sometimes a rate limit or a cap on open holds) and then charge through it, once
 * the ledger has accepted the key (a revoked key cannot be set again). Every
 * outcome is kept, numbered from 1 like the journal, so the test can append them and compute what PostgreSQL must
 * hold.
 */
final class Workload implements OutcomeSink
{
    static final long START_TIME = 1_767_225_600_000L - 2 * 3_600_000L; // 2025-12-31T22:00Z: crosses day and month

    final Ledger ledger = new Ledger(new LedgerConfig().dedupeWindowCount(1 << 16).expectedAccounts(256), this);
    private final ExpandableArrayBuffer outcomes = new ExpandableArrayBuffer(1 << 20);
    private Random random;
    private final Command command = new Command();
    private final Result result = new Result();
    private final List<Long> holds = new ArrayList<>();
    private final Set<Long> keyed = new HashSet<>();
    private int count;
    private int appended;
    private long time = START_TIME;
    private long request;

    Workload(final long seed)
    {
        this.random = new Random(seed);
    }

    public void onOutcome(final Outcome outcome)
    {
        outcome.encode(outcomes, count * Outcome.LENGTH);
        count++;
    }

    int count()
    {
        return count;
    }

    long time()
    {
        return time;
    }

    /**
     * Runs commands until at least {@code target} outcomes exist in total.
     */
    void produceUntil(final int target)
    {
        while (count < target)
        {
            step();
        }
    }

    private void step()
    {
        final long user = 1 + random.nextInt(40);
        final int service = 1 + random.nextInt(3);
        time += random.nextInt(20_000); // about 10 s apart on average: a few hours per 1,000 commands
        final int dice = random.nextInt(100);
        if (dice < 3 && request > 0)
        {
            // a retry of an earlier request: a duplicate (no outcome) or, if it was rejected, judged afresh
            ledger.process(command.timestamp(time), result);
            return;
        }
        request++;
        command.reset().requestId(9, request).timestamp(time);
        if (dice < 15)
        {
            command.op(Op.CREDIT).userId(user).amount(1 + random.nextInt(2_000));
        }
        else if (dice < 20)
        {
            final Period period = Period.values()[random.nextInt(100) < 80 ? 0 : 1 + random.nextInt(2)];
            command.op(Op.GRANT).userId(user).serviceId(service).amount(random.nextInt(200)).period(period);
        }
        else if (dice < 22)
        {
            command.op(Op.SET_LIMIT).userId(user).amount(random.nextInt(3) * 100);
        }
        else if (dice < 23)
        {
            command.op(Op.FREEZE).userId(user);
        }
        else if (dice < 25)
        {
            command.op(Op.UNFREEZE).userId(user);
        }
        else if (dice < 40)
        {
            command.op(Op.RESERVE).userId(user).serviceId(service).amount(1 + random.nextInt(80))
                .ttlMillis(60_000 + random.nextInt(3_600_000)).virtualKeyId(key(user));
            holds.add(request);
        }
        else if (dice < 55 && !holds.isEmpty())
        {
            final long hold = holds.remove(random.nextInt(holds.size()));
            if (random.nextInt(4) == 0)
            {
                command.op(Op.RELEASE).holdId(9, hold);
            }
            else
            {
                command.op(Op.SETTLE).holdId(9, hold).amount(random.nextInt(120));
            }
        }
        else if (dice < 57)
        {
            command.op(Op.DEDUCT).userId(user).serviceId(service).amount(0); // INVALID_AMOUNT
        }
        else if (dice < 58)
        {
            // expire due holds with no traffic for them
            ledger.process(command.reset().op(Op.TICK).timestamp(time), result);
            return;
        }
        else if (dice < 60)
        {
            policy(user);
            return;
        }
        else
        {
            command.op(Op.DEDUCT).userId(user).serviceId(service).amount(1 + random.nextInt(60))
                .virtualKeyId(key(user));
        }
        ledger.process(command, result);
    }

    /**
     * The user's key (id 1000 + user) or its limits: a key with a budget per day or none, a generous rate limit, a
     * cap on its open holds.
     */
    private void policy(final long user)
    {
        final int dice = random.nextInt(10);
        if (dice < 6 || !keyed.contains(user))
        {
            command.op(Op.SET_VIRTUAL_KEY).userId(user).virtualKeyId(1_000 + user).amount(500 + random.nextInt(5_000))
                .resetPeriod(random.nextBoolean() ? Period.DAY : null);
        }
        else if (dice < 8)
        {
            command.op(Op.SET_RATE_LIMIT).userId(user).virtualKeyId(random.nextBoolean() ? 1_000 + user : 0)
                .requests(random.nextInt(3) * 20).perMillis(60_000);
        }
        else
        {
            command.op(Op.SET_CONCURRENCY).userId(user).virtualKeyId(1_000 + user).amount(random.nextInt(4));
        }
        ledger.process(command, result);
        if (result.code() == ResultCode.OK && command.op() == Op.SET_VIRTUAL_KEY)
        {
            keyed.add(user);
        }
    }

    /**
     * @return the user's key for a third of its charges once it has one, else 0.
     */
    private long key(final long user)
    {
        return keyed.contains(user) && random.nextInt(3) == 0 ? 1_000 + user : 0;
    }

    /**
     * From here on the workload draws other commands (another seed), and what it produced so far counts as
     * appended: the journal lost whatever this workload's twin appended after this point, and the ledger went on
     * from here with other outcomes under the same sequence numbers.
     */
    void goOnDifferently(final long seed)
    {
        random = new Random(seed);
        appended = count;
    }

    /**
     * Appends every outcome produced since the last call, in documents of at most {@code perDocument}.
     */
    void appendNew(final JournalAppender appender, final int perDocument)
    {
        appendNew(appender, perDocument, count);
    }

    /**
     * Appends the outcomes produced since the last call up to sequence {@code last}.
     */
    void appendNew(final JournalAppender appender, final int perDocument, final int last)
    {
        while (appended < last)
        {
            final int n = Math.min(perDocument, last - appended);
            appender.append(appended + 1, outcomes, appended * Outcome.LENGTH, n);
            appender.flush();
            appended += n;
        }
    }

    Outcome outcome(final long sequence)
    {
        final Outcome outcome = new Outcome();
        if (!outcome.decode(outcomes, (int)(sequence - 1) * Outcome.LENGTH))
        {
            throw new IllegalStateException("outcome " + sequence);
        }
        return outcome;
    }
}
