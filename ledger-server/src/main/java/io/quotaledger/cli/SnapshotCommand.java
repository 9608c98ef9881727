package io.quotaledger.cli;

import io.quotaledger.core.Ledger;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Recovery;
import io.quotaledger.journal.SnapshotStore;
import org.agrona.concurrent.UnsafeBuffer;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * Takes a snapshot offline: recovers the state from the data directory and writes it as a new snapshot, so that the
 * next start (and {@code ledger archive}) can begin from it.
 */
@picocli.CommandLine.Command(
    name = "snapshot",
    mixinStandardHelpOptions = true,
    description = {
        "Takes a snapshot offline (not while the ledger runs).",
        "",
        "Recovers the state (newest good snapshot, then the journal), writes it to " +
            "DIR/snapshots/ and deletes all but the newest --keep snapshots.",
        "",
        "Do not run it while `ledger serve` writes to the same directory: a running ledger takes its own snapshots.",
        "" })
final class SnapshotCommand implements Callable<Integer>
{
    @Mixin
    Tools.LedgerOptions options;

    @Option(names = "--keep", paramLabel = "K", defaultValue = "3",
        description = "Snapshots to keep, the new one included (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--json", description = "Print the report as one JSON object.")
    boolean json;

    public Integer call()
    {
        return Tools.run("snapshot", this::snapshot);
    }

    private int snapshot() throws Exception
    {
        if (keep < 1)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "--keep must be >= 1");
        }
        final DataDir dir = options.dataDir();
        final Recovery.Result recovered = Tools.recover("snapshot", dir, options.newLedger(), true,
            Recovery.Limit.END);
        if (recovered.lastSequence() == 0)
        {
            throw new Tools.ToolException(Tools.EXIT_FAILURE, "the journal is empty: nothing to snapshot");
        }
        final Ledger ledger = recovered.ledger();
        final UnsafeBuffer buffer = new UnsafeBuffer(new byte[ledger.snapshotLength()]);
        final int length = ledger.writeSnapshot(buffer, 0);
        final long checksum = ledger.checksum();
        final SnapshotStore store = new SnapshotStore(dir);
        final Path file = store.write(recovered.lastSequence(), recovered.lastTimestamp(), checksum, buffer, length);
        store.prune(keep);
        final long size = Files.size(file);

        if (json)
        {
            System.out.println("{\"file\":" + Tools.quote(file.toString()) + ",\"bytes\":" + size +
                ",\"sequence\":" + recovered.lastSequence() + ",\"timestamp\":" + recovered.lastTimestamp() +
                ",\"accounts\":" + ledger.accountCount() + ",\"openHolds\":" + ledger.openHoldCount() +
                ",\"checksum\":" + Tools.quote(String.format("%016x", checksum)) +
                ",\"from\":" + (recovered.snapshot() == null ? "null" :
                Tools.quote(recovered.snapshot().path().getFileName().toString())) +
                ",\"replayed\":" + recovered.replayed() + ",\"kept\":" + store.list().size() + "}");
        }
        else
        {
            System.out.printf("ledger snapshot: %s (%,d bytes)%n", file, size);
            System.out.printf("  state       %,d accounts, %,d open holds at sequence %,d (%s), checksum %016x%n",
                ledger.accountCount(), ledger.openHoldCount(), recovered.lastSequence(),
                Tools.isoTime(recovered.lastTimestamp()), checksum);
            System.out.printf("  from        %s plus %,d outcomes%n", recovered.snapshot() == null ?
                "the journal alone" : recovered.snapshot().path().getFileName(), recovered.replayed());
            System.out.printf("  kept        %d snapshot(s) in %s%n", store.list().size(), store.folder());
        }
        return 0;
    }
}
