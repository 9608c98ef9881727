package io.quotaledger.cli;

import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerClientException;
import io.quotaledger.client.SnapshotReport;
import io.quotaledger.core.Ledger;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Recovery;
import io.quotaledger.journal.SnapshotStore;
import io.quotaledger.protocol.ResultCode;
import org.agrona.concurrent.UnsafeBuffer;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * Takes a snapshot offline: recovers the state from the data directory and writes it as a new snapshot, so that the
 * next start (and {@code ledger archive}) can begin from it.
 */
@picocli.CommandLine.Command(
    name = "snapshot",
    mixinStandardHelpOptions = true,
    description = {
        "Takes a snapshot: offline, or of a running ledger with --running.",
        "",
        "Offline (only while `ledger serve` is stopped) it recovers the state (newest good snapshot, then the " +
            "journal), writes it to DIR/snapshots/ and deletes all but the newest --keep snapshots.",
        "With --running it asks the ledger at --host/--port (an admin key from --key-file, LEDGER_KEY or " +
            "DIR/admin.key) to snapshot itself; its own --keep-snapshots setting applies.",
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

    @Option(names = "--running", description = "Ask the running ledger to snapshot itself.")
    boolean running;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "With --running (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "7070", converter = Tools.PortConverter.class,
        description = "With --running (default: ${DEFAULT-VALUE}).")
    int port;

    @Mixin
    KeyOptions keys;

    public Integer call()
    {
        return Tools.run("snapshot", running ? this::snapshotRunning : this::snapshot);
    }

    private int snapshotRunning() throws Exception
    {
        final SnapshotReport report;
        try (LedgerClient client = LedgerClient.connect(new ClientConfig().host(host).port(port)
            .apiKey(keys.apiKey("snapshot", options.data))))
        {
            report = client.snapshot().get(10, TimeUnit.MINUTES);
        }
        catch (final LedgerClientException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, ex.getMessage());
        }
        if (json)
        {
            System.out.println("{\"code\":\"" + report.code() + "\",\"sequence\":" + report.sequence() +
                ",\"bytes\":" + report.bytes() + ",\"pauseMicros\":" + report.pauseMicros() + "}");
        }
        else
        {
            System.out.printf("snapshot %s at sequence %,d: %,d bytes, the ledger paused %.1f ms%n", report.code(),
                report.sequence(), report.bytes(), report.pauseMicros() / 1000.0);
        }
        if (report.code() != ResultCode.OK)
        {
            System.err.println("ledger snapshot: the running ledger did not snapshot (one in progress, or it failed)");
            return Tools.EXIT_FAILURE;
        }
        return 0;
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
