package io.quotaledger.bench;

import com.sun.management.HotSpotDiagnosticMXBean;
import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.Result;
import org.openjdk.jol.info.GraphLayout;
import org.openjdk.jol.vm.VM;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.util.Locale;

/**
 * Heap bytes per account of a ledger holding {@link Workload#ACCOUNTS} accounts, each with one free quota: what a
 * deployment should budget per user. Not a JMH benchmark; run with {@code scripts/bench footprint [--json]}.
 *
 * <p>The figure is the ledger's retained size (JOL walks its object graph) minus the size of an empty ledger built
 * with {@code expectedAccounts = 16} and otherwise the same settings. The subtraction removes what does not scale with
 * accounts: the preallocated hold tables, the dedupe window (set to one entry, so the request ids of the set-up are
 * not counted) and the ledger's own objects. Hash-table slack is counted: it is memory the accounts cost. Two cases:
 * <ul>
 *     <li>presized: {@code expectedAccounts} = the account count, tables allocated once;</li>
 *     <li>grown: {@code expectedAccounts} left at its default, tables grown as accounts arrive; the figure depends
 *     on where the count falls between two growth steps.</li>
 * </ul>
 * A second estimate from heap used after {@link System#gc()} cross-checks JOL.
 *
 * <p>{@code --policy}: the gateway policy's figures instead, per virtual key, rate-limit entry and spend-window entry
 * ({@link PolicyFootprint}).
 */
public final class MemoryFootprint
{
    private MemoryFootprint()
    {
    }

    public static void main(final String[] args)
    {
        boolean json = false;
        boolean policy = false;
        for (final String arg : args)
        {
            if ("--json".equals(arg))
            {
                json = true;
            }
            else if ("--policy".equals(arg))
            {
                policy = true;
            }
            else
            {
                System.err.println("usage: MemoryFootprint [--policy] [--json]");
                System.exit("--help".equals(arg) || "-h".equals(arg) ? 0 : 2);
            }
        }

        // JOL reports on the VM it attaches to on stdout; keep stdout for the answer
        final PrintStream out = System.out;
        System.setOut(System.err);
        try
        {
            VM.current();
        }
        finally
        {
            System.setOut(out);
        }

        if (policy)
        {
            final PolicyFootprint.Figures figures = PolicyFootprint.measure(Workload.ACCOUNTS);
            if (json)
            {
                out.println("{\"jvm\":\"" + System.getProperty("java.vm.name") + ' ' +
                    System.getProperty("java.vm.version") + "\",\"compressedOops\":" + compressedOops() +
                    ",\"policy\":" + figures.json() + "}");
            }
            else
            {
                out.println(System.getProperty("java.vm.name") + ' ' + System.getProperty("java.vm.version") +
                    ", compressed oops " + compressedOops());
                figures.print(out);
                out.println();
                out.println("the ledger at the end, by class (JOL):");
                out.println(figures.footprint());
            }
            return;
        }

        final int accounts = Workload.ACCOUNTS;
        final Figure presized = measure("presized", accounts, accounts);
        final Figure grown = measure("grown", new LedgerConfig().expectedAccounts(), accounts);

        if (json)
        {
            out.println("{\"accounts\":" + accounts + ",\"quotasPerAccount\":1,\"jvm\":\"" +
                System.getProperty("java.vm.name") + ' ' + System.getProperty("java.vm.version") +
                "\",\"compressedOops\":" + compressedOops() + ",\"results\":[" + presized.json() + ',' +
                grown.json() + "]}");
        }
        else
        {
            out.println("accounts: " + accounts + ", each with one free quota; " + System.getProperty("java.vm.name") +
                ' ' + System.getProperty("java.vm.version") + ", compressed oops " + compressedOops());
            presized.print(out);
            grown.print(out);
            out.println();
            out.println("presized ledger, by class (JOL):");
            out.println(presized.footprint);
        }
    }

    private static Figure measure(final String name, final int expectedAccounts, final int accounts)
    {
        final long baselineBytes = GraphLayout.parseInstance(new Ledger(config(16), OutcomeSink.NONE)).totalSize();

        final long heapBefore = usedHeapAfterGc();
        final Ledger ledger = new Ledger(config(expectedAccounts), OutcomeSink.NONE);
        populate(ledger, accounts);
        final long heapAfter = usedHeapAfterGc();

        final GraphLayout layout = GraphLayout.parseInstance(ledger);
        final Figure figure = new Figure(
            name, expectedAccounts, layout.totalSize(), baselineBytes, heapAfter - heapBefore, accounts,
            layout.toFootprint());
        Reference.reachabilityFence(ledger);
        return figure;
    }

    private static LedgerConfig config(final int expectedAccounts)
    {
        return new LedgerConfig().expectedAccounts(expectedAccounts).dedupeWindowCount(1);
    }

    private static void populate(final Ledger ledger, final int accounts)
    {
        final Command command = new Command();
        final Result result = new Result();
        for (int i = 0; i < accounts; i++)
        {
            ledger.process(Workload.credit(command.reset().timestamp(Workload.START_MILLIS), i), result);
            requireAccepted(result);
            ledger.process(Workload.grant(command.reset().timestamp(Workload.START_MILLIS), i), result);
            requireAccepted(result);
        }
        if (ledger.accountCount() != accounts)
        {
            throw new IllegalStateException("expected " + accounts + " accounts, found " + ledger.accountCount());
        }
    }

    private static void requireAccepted(final Result result)
    {
        if (!result.accepted())
        {
            throw new IllegalStateException("set-up command refused: " + result);
        }
    }

    static long usedHeapAfterGc()
    {
        final Runtime runtime = Runtime.getRuntime();
        long used = Long.MAX_VALUE;
        // a few rounds: one full collection may leave garbage that a finaliser or reference queue releases late
        for (int i = 0; i < 3; i++)
        {
            System.gc();
            used = Math.min(used, runtime.totalMemory() - runtime.freeMemory());
        }
        return used;
    }

    private static boolean compressedOops()
    {
        return Boolean.parseBoolean(ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
            .getVMOption("UseCompressedOops").getValue());
    }

    private static final class Figure
    {
        final String name;
        final int expectedAccounts;
        final long totalBytes;
        final long baselineBytes;
        final long heapDeltaBytes;
        final int accounts;
        final String footprint;

        Figure(
            final String name,
            final int expectedAccounts,
            final long totalBytes,
            final long baselineBytes,
            final long heapDeltaBytes,
            final int accounts,
            final String footprint)
        {
            this.name = name;
            this.expectedAccounts = expectedAccounts;
            this.totalBytes = totalBytes;
            this.baselineBytes = baselineBytes;
            this.heapDeltaBytes = heapDeltaBytes;
            this.accounts = accounts;
            this.footprint = footprint;
        }

        double bytesPerAccount()
        {
            return (double)(totalBytes - baselineBytes) / accounts;
        }

        double heapBytesPerAccount()
        {
            return (double)(heapDeltaBytes - baselineBytes) / accounts;
        }

        void print(final PrintStream out)
        {
            out.printf(
                Locale.ROOT,
                "%-9s expectedAccounts=%-8d %7.1f bytes/account (JOL: %,d - empty %,d)   heap after gc: %7.1f bytes/account%n",
                name, expectedAccounts, bytesPerAccount(), totalBytes, baselineBytes, heapBytesPerAccount());
        }

        String json()
        {
            return String.format(
                Locale.ROOT,
                "{\"case\":\"%s\",\"expectedAccounts\":%d,\"bytesPerAccount\":%.1f,\"totalBytes\":%d," +
                "\"baselineBytes\":%d,\"heapDeltaBytes\":%d,\"heapBytesPerAccount\":%.1f}",
                name, expectedAccounts, bytesPerAccount(), totalBytes, baselineBytes, heapDeltaBytes,
                heapBytesPerAccount());
        }
    }
}
