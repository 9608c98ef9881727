package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.SnapshotStore;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The process {@link SnapshotHeapTest} runs on a small heap: fills a ledger with users, two virtual keys each and a
 * rate limit on every key until the heap in use (after a full collection) reaches a given share of the maximum, then
 * takes a snapshot of it running in an engine with {@link Snapshotter}, and prints
 * {@code SNAPSHOT <sequence> <state checksum, hex> <users> <heap used> <heap max>} or {@code FAILED <exception>}.
 *
 * <pre>
 * args: dataDir heapShare(percent)
 * </pre>
 */
public final class SnapshotHeapChild
{
    /** The ledger's configuration, the same in the test that loads the snapshot. */
    static final LedgerConfig CONFIG = new LedgerConfig().dedupeWindowCount(1_024);
    private static final long NOW = 1_700_000_000_000L;
    private static final int USERS_PER_CHECK = 10_000;

    private SnapshotHeapChild()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        final DataDir dir = new DataDir(Path.of(args[0]));
        final double share = Integer.parseInt(args[1]) / 100.0;
        final long max = Runtime.getRuntime().maxMemory();

        final Ledger ledger = new Ledger(CONFIG, OutcomeSink.NONE);
        final Command command = new Command();
        final Result result = new Result();
        int users = 0;
        long used = usedAfterGc();
        while (used < share * max)
        {
            for (final int end = users + USERS_PER_CHECK; users < end; users++)
            {
                fill(ledger, command, result, users + 1L);
            }
            used = usedAfterGc();
        }

        final LedgerEngine engine = LedgerEngine.start(new EngineConfig().ledger(CONFIG).ringSize(1_024)
            .ledgerFactory((config, sink) ->
            {
                ledger.outcomeSink(sink);
                return ledger;
            }));
        try (Snapshotter snapshotter = new Snapshotter(engine, new SnapshotStore(dir), () -> Long.MAX_VALUE, 2, 0))
        {
            final Snapshotter.Snapshot snapshot = snapshotter.snapshot().get(2, TimeUnit.MINUTES);
            engine.close();
            System.out.printf("SNAPSHOT %d %x %d %d %d%n", snapshot.sequence(), engine.ledgerAfterClose().checksum(),
                users, used, max);
        }
        catch (final Exception ex)
        {
            engine.close();
            System.out.println("FAILED " + (ex.getCause() != null ? ex.getCause() : ex));
        }
    }

    /**
     * A funded user with two keys, each with a budget and a rate limit.
     */
    private static void fill(final Ledger ledger, final Command command, final Result result, final long user)
    {
        process(ledger, command.reset().timestamp(NOW).op(Op.CREDIT).requestId(1, user).userId(user).amount(1_000),
            result);
        for (int key = 0; key < 2; key++)
        {
            final long keyId = 2 * user + key;
            process(ledger, command.reset().timestamp(NOW).op(Op.SET_VIRTUAL_KEY).requestId(2, keyId).userId(user)
                .virtualKeyId(keyId).amount(500).resetPeriod(Period.MONTH), result);
            process(ledger, command.reset().timestamp(NOW).op(Op.SET_RATE_LIMIT).requestId(3, keyId).userId(user)
                .virtualKeyId(keyId).requests(60).units(100_000).perMillis(60_000), result);
        }
    }

    private static void process(final Ledger ledger, final Command command, final Result result)
    {
        ledger.process(command, result);
        if (!result.accepted())
        {
            throw new IllegalStateException("set-up command refused: " + command + " -> " + result);
        }
    }

    private static long usedAfterGc()
    {
        System.gc();
        return Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
    }
}
