package io.quotaledger.cli;

import io.quotaledger.core.Ledger;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Recovery;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * Rebuilds the ledger's state from its data directory, offline, as recovery would (or up to a point in the journal),
 * reports it and optionally exports every account.
 */
@picocli.CommandLine.Command(
    name = "replay",
    mixinStandardHelpOptions = true,
    description = {
        "Rebuilds the state from the data directory (newest good snapshot, then the journal) and reports it.",
        "",
        "The report: accounts, open holds, last sequence and time, the snapshot used, outcomes replayed and how " +
            "fast, a skipped torn tail, snapshots passed over and the state checksum. --export writes every account.",
        "",
        "The journal is indexed by outcome sequence (1, 2, 3... with no gaps): --to-sequence N stops after outcome " +
            "N, --to-time T after the last outcome at or before T. Reads only: safe while the ledger runs (it sees " +
            "the journal as it was when it started reading).",
        "" })
final class ReplayCommand implements Callable<Integer>
{
    @Mixin
    Tools.LedgerOptions options;

    @Option(names = "--to-sequence", paramLabel = "N",
        description = "Replay up to and including outcome sequence N (--to-index N is an alias).")
    Long toSequence;

    @Option(names = "--to-index", paramLabel = "N", hidden = true, description = "Alias of --to-sequence.")
    void toIndex(final long sequence)
    {
        toSequence = sequence; // the name; the journal's index is the outcome sequence
    }

    @Option(names = "--to-time", paramLabel = "T", converter = Tools.TimeConverter.class,
        description = "Replay outcomes up to and including time T: ISO-8601 (2026-11-22T10:00:00Z) or epoch ms.")
    Long toTime;

    @Option(names = "--no-snapshot", description = "Rebuild from the journal alone, ignoring snapshots.")
    boolean noSnapshot;

    @Option(names = "--export", paramLabel = "FILE",
        description = "Write every account (userId, balance, held, creditLimit, frozen) to FILE.csv or FILE.json.")
    Path export;

    @Option(names = "--json", description = "Print the report as one JSON object.")
    boolean json;

    public Integer call()
    {
        return Tools.run("replay", this::replay);
    }

    private int replay() throws Exception
    {
        if (toSequence != null && toTime != null)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "give --to-sequence or --to-time, not both");
        }
        if (toSequence != null && toSequence < 0)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "--to-sequence must be >= 0");
        }
        final String format = export == null ? null : exportFormat(export);
        final DataDir dir = options.dataDir();
        final Recovery.Limit limit = toSequence != null ? new Recovery.Limit(toSequence, Long.MAX_VALUE) :
            toTime != null ? new Recovery.Limit(Long.MAX_VALUE, toTime) : Recovery.Limit.END;

        final Recovery.Result result = Tools.recover("replay", dir, options.newLedger(), !noSnapshot, limit);
        final long exported = export == null ? -1 : export(result.ledger(), export, format);
        report(result, exported);
        return 0;
    }

    /**
     * @return "csv" or "json", by the file's extension.
     */
    static String exportFormat(final Path file) throws Tools.ToolException
    {
        final String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".csv"))
        {
            return "csv";
        }
        if (name.endsWith(".json"))
        {
            return "json";
        }
        throw new Tools.ToolException(Tools.EXIT_USAGE, "--export " + file + ": the file must end in .csv or .json");
    }

    private static long export(final Ledger ledger, final Path file, final String format) throws IOException
    {
        final Path parent = file.toAbsolutePath().getParent();
        if (parent != null)
        {
            Files.createDirectories(parent);
        }
        final long[] rows = { 0 };
        try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8))
        {
            final boolean csv = "csv".equals(format);
            out.write(csv ? "userId,balance,held,creditLimit,frozen\n" : "[");
            try
            {
                ledger.forEachAccount((userId, balance, held, creditLimit, frozen) ->
                {
                    try
                    {
                        if (csv)
                        {
                            out.write(userId + "," + balance + "," + held + "," + creditLimit + "," + frozen + "\n");
                        }
                        else
                        {
                            out.write((rows[0] == 0 ? "\n" : ",\n") + "{\"userId\":" + userId + ",\"balance\":" +
                                balance + ",\"held\":" + held + ",\"creditLimit\":" + creditLimit + ",\"frozen\":" +
                                frozen + "}");
                        }
                        rows[0]++;
                    }
                    catch (final IOException ex)
                    {
                        throw new UncheckedIOException(ex); // the visitor cannot throw checked exceptions
                    }
                });
            }
            catch (final UncheckedIOException ex)
            {
                throw ex.getCause();
            }
            if (!csv)
            {
                out.write(rows[0] == 0 ? "]\n" : "\n]\n");
            }
        }
        return rows[0];
    }

    private void report(final Recovery.Result r, final long exported)
    {
        final Ledger ledger = r.ledger();
        final long rate = Tools.perSecond(r.replayed(), r.nanos());
        if (json)
        {
            final StringBuilder out = new StringBuilder(512).append('{');
            out.append("\"data\":").append(Tools.quote(options.data.toAbsolutePath().toString()))
                .append(",\"accounts\":").append(ledger.accountCount())
                .append(",\"openHolds\":").append(ledger.openHoldCount())
                .append(",\"lastSequence\":").append(r.lastSequence())
                .append(",\"lastTimestamp\":").append(r.lastTimestamp())
                .append(",\"lastTime\":").append(r.lastTimestamp() == 0 ? "null" : Tools.quote(
                    Tools.isoTime(r.lastTimestamp())))
                .append(",\"journalEnd\":").append(r.journalEnd())
                .append(",\"snapshot\":").append(r.snapshot() == null ? "null" :
                    Tools.quote(r.snapshot().path().getFileName().toString()))
                .append(",\"snapshotSequence\":").append(r.snapshot() == null ? 0 : r.snapshot().sequence())
                .append(",\"replayed\":").append(r.replayed())
                .append(",\"seconds\":").append(String.format(Locale.ROOT, "%.3f", r.nanos() / 1e9))
                .append(",\"outcomesPerSecond\":").append(rate)
                .append(",\"tornTail\":").append(Tools.quote(r.tornTail()))
                .append(",\"rejectedSnapshots\":[");
            String separator = "";
            for (final String why : r.rejectedSnapshots())
            {
                out.append(separator).append(Tools.quote(why));
                separator = ",";
            }
            out.append("],\"checksum\":").append(Tools.quote(String.format("%016x", ledger.checksum())));
            if (exported >= 0)
            {
                out.append(",\"export\":").append(Tools.quote(export.toAbsolutePath().toString()))
                    .append(",\"exported\":").append(exported);
            }
            System.out.println(out.append('}'));
            return;
        }
        System.out.printf("ledger replay: %s%n", options.data.toAbsolutePath());
        System.out.printf("  state       %,d accounts, %,d open holds, checksum %016x%n",
            ledger.accountCount(), ledger.openHoldCount(), ledger.checksum());
        System.out.printf("  position    sequence %,d at %s (journal ends at %,d)%n", r.lastSequence(),
            r.lastTimestamp() == 0 ? "-" : Tools.isoTime(r.lastTimestamp()), r.journalEnd());
        System.out.printf("  snapshot    %s%n", r.snapshot() == null ? "none (journal alone)" :
            r.snapshot().path().getFileName() + " at sequence " + r.snapshot().sequence());
        System.out.printf("  replayed    %,d outcomes in %.3f s (%,d outcomes/s%s)%n", r.replayed(), r.nanos() / 1e9,
            rate, r.snapshot() == null ? "" : ", snapshot load included");
        if (r.tornTail() != null)
        {
            System.out.printf("  torn tail   skipped, nothing lost now: %s%n", r.tornTail());
        }
        for (final String why : r.rejectedSnapshots())
        {
            System.out.printf("  not used    %s%n", why);
        }
        if (exported >= 0)
        {
            System.out.printf("  exported    %,d accounts to %s%n", exported, export.toAbsolutePath());
        }
    }
}
