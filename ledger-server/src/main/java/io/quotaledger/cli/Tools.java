package io.quotaledger.cli;

import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.JournalCorruptedException;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Recovery;
import io.quotaledger.journal.SnapshotStore;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the operator tools (replay, verify, journal, snapshot, archive) share: the data directory and ledger options,
 * failure handling with a clear message and exit code, replay progress bars, time parsing and JSON quoting.
 */
public final class Tools
{
    /** Bad input: a missing directory, a refused option value. Picocli uses 2 for usage errors too. */
    static final int EXIT_USAGE = 2;
    /** The tool ran and found something wrong, or could not finish. */
    static final int EXIT_FAILURE = 1;

    private Tools()
    {
    }

    /**
     * A failure with a message meant for the operator, no stack trace.
     */
    static final class ToolException extends Exception
    {
        private static final long serialVersionUID = 1L;
        private final int exitCode;

        ToolException(final int exitCode, final String message)
        {
            super(message);
            this.exitCode = exitCode;
        }

        int exitCode()
        {
            return exitCode;
        }
    }

    /**
     * The options every tool takes: where the data is and how the ledger that wrote it was sized. The dedupe window
     * is part of the state (and of its checksum), so it must match the settings the ledger ran with.
     */
    static final class LedgerOptions
    {
        @Option(names = "--data", required = true, paramLabel = "DIR",
            description = "The ledger's data directory (holds journal/ and snapshots/).")
        Path data;

        @Option(names = "--dedupe-window-count", paramLabel = "N", defaultValue = "1048576",
            description = "Request ids the ledger remembered, as it ran with (default: ${DEFAULT-VALUE}).")
        int dedupeWindowCount;

        @Option(names = "--dedupe-window-millis", paramLabel = "MS", defaultValue = "86400000",
            description = "How long the ledger remembered a request id, as it ran with (default: ${DEFAULT-VALUE}).")
        long dedupeWindowMillis;

        /**
         * @return the data directory, which must exist and hold a journal.
         * @throws ToolException when it does not.
         */
        DataDir dataDir() throws ToolException
        {
            return existingDataDir(data);
        }

        LedgerConfig ledgerConfig() throws ToolException
        {
            try
            {
                // tools only apply outcomes, so the hold ttl cap only has to be valid, not match
                return new LedgerConfig()
                    .dedupeWindowCount(dedupeWindowCount)
                    .dedupeWindowMillis(dedupeWindowMillis)
                    .maxHoldTtlMillis(Math.min(new LedgerConfig().maxHoldTtlMillis(), Math.max(1, dedupeWindowMillis)))
                    .validate();
            }
            catch (final IllegalArgumentException ex)
            {
                throw new ToolException(EXIT_USAGE, ex.getMessage());
            }
        }

        Supplier<Ledger> newLedger() throws ToolException
        {
            final LedgerConfig config = ledgerConfig();
            return () -> new Ledger(config, OutcomeSink.NONE);
        }
    }

    /**
     * @return the data directory, which must exist and hold a journal: a tool never creates one by mistake.
     * @throws ToolException when it does not.
     */
    static DataDir existingDataDir(final Path data) throws ToolException
    {
        if (!Files.isDirectory(data))
        {
            throw new ToolException(EXIT_USAGE, "no data directory " + data.toAbsolutePath());
        }
        final DataDir dir = new DataDir(data);
        if (!dir.hasJournal())
        {
            throw new ToolException(EXIT_USAGE, "no journal in " + dir + " (expected " + dir.journal() + ")");
        }
        return dir;
    }

    /**
     * Runs a tool's body, turning every failure into a message on stderr and a non-zero exit code.
     */
    static int run(final String name, final Callable<Integer> body)
    {
        try
        {
            return body.call();
        }
        catch (final ToolException ex)
        {
            System.err.println("ledger " + name + ": " + ex.getMessage());
            return ex.exitCode();
        }
        catch (final JournalCorruptedException ex)
        {
            System.err.println("ledger " + name + ": journal corrupted: " + ex.getMessage());
            return EXIT_FAILURE;
        }
        catch (final Exception ex)
        {
            System.err.println("ledger " + name + ": " + ex);
            LoggerFactory.getLogger(Tools.class).debug("ledger {} failed", name, ex); // LEDGER_LOG_LEVEL=DEBUG
            return EXIT_FAILURE;
        }
    }

    /**
     * Recovers with a progress bar in outcomes on stderr. The bar's total is the journal's end (or the limit) minus
     * where replay starts, which is known for sure only once the first progress report arrives: until then the newest
     * snapshot that recovery may use is assumed.
     */
    static Recovery.Result recover(
        final String task,
        final DataDir dir,
        final Supplier<Ledger> newLedger,
        final boolean useSnapshots,
        final Recovery.Limit limit) throws IOException
    {
        final long end;
        try (JournalReader reader = JournalReader.open(dir))
        {
            end = Math.min(reader.lastSequence(), limit.sequence());
        }
        long start = 0;
        if (useSnapshots)
        {
            for (final SnapshotStore.Info info : new SnapshotStore(dir).list())
            {
                if (info.sequence() <= end && info.timestamp() <= limit.timestamp())
                {
                    start = info.sequence();
                    break;
                }
            }
        }
        try (ProgressBar bar = progressBar(task, Math.max(0, end - start), " outcomes"))
        {
            return Recovery.recover(dir, newLedger, useSnapshots, limit, (replayed, sequence) ->
            {
                bar.maxHint(Math.max(replayed, end - (sequence - replayed))); // sequence - replayed: the real start
                bar.stepTo(replayed);
            });
        }
    }

    public static ProgressBar progressBar(final String task, final long max, final String unit)
    {
        return new ProgressBarBuilder()
            .setTaskName(task)
            .setInitialMax(max)
            .setStyle(ProgressBarStyle.ASCII)
            .setUnit(unit, 1)
            .showSpeed()
            .setConsumer(new ConsoleProgressBarConsumer(System.err))
            .build();
    }

    /**
     * @return outcomes per second, 0 when nothing was timed.
     */
    static long perSecond(final long count, final long nanos)
    {
        return nanos <= 0 ? 0 : (long)(count / (nanos / 1e9));
    }

    static String isoTime(final long epochMillis)
    {
        return Instant.ofEpochMilli(epochMillis).toString();
    }

    /**
     * @return the string as a JSON string literal, or null unquoted.
     */
    public static String quote(final String s)
    {
        if (s == null)
        {
            return "null";
        }
        final StringBuilder out = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++)
        {
            final char c = s.charAt(i);
            switch (c)
            {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default ->
                {
                    if (c < 0x20)
                    {
                        out.append(String.format("\\u%04x", (int)c));
                    }
                    else
                    {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    /**
     * A point in time as an ISO-8601 instant (2026-11-22T10:00:00Z) or epoch milliseconds, to epoch milliseconds.
     */
    static final class TimeConverter implements CommandLine.ITypeConverter<Long>
    {
        public Long convert(final String value)
        {
            final String text = value.trim();
            if (!text.isEmpty() && text.chars().allMatch(Character::isDigit))
            {
                try
                {
                    return Long.parseLong(text);
                }
                catch (final NumberFormatException ex)
                {
                    throw new CommandLine.TypeConversionException("'" + value + "' is out of range");
                }
            }
            try
            {
                return Instant.parse(text).toEpochMilli();
            }
            catch (final DateTimeParseException | ArithmeticException ex)
            {
                throw new CommandLine.TypeConversionException(
                    "'" + value + "' is neither an ISO-8601 instant (2026-11-22T10:00:00Z) nor epoch milliseconds");
            }
        }
    }

    /**
     * @return why a file operation failed, in words for the operator (the exception's message is often just the path).
     */
    static String reason(final IOException ex)
    {
        if (ex instanceof NoSuchFileException)
        {
            return "no such file or directory";
        }
        if (ex instanceof AccessDeniedException)
        {
            return "permission denied";
        }
        if (ex instanceof FileSystemException && ((FileSystemException)ex).getReason() != null)
        {
            return ((FileSystemException)ex).getReason();
        }
        return ex.getMessage() != null ? ex.getMessage() : ex.toString();
    }

    private static long parse(final String value, final long min, final long max, final String range)
    {
        try
        {
            final long parsed = Long.parseLong(value.trim());
            if (parsed >= min && parsed <= max)
            {
                return parsed;
            }
        }
        catch (final NumberFormatException ex)
        {
            // the message below says what is expected
        }
        throw new CommandLine.TypeConversionException("'" + value + "' is not " + range);
    }

    /**
     * A TCP port to connect to: 1 to 65535.
     */
    static final class PortConverter implements CommandLine.ITypeConverter<Integer>
    {
        public Integer convert(final String value)
        {
            return (int)parse(value, 1, 65_535, "a port (1 to 65535)");
        }
    }

    /**
     * A TCP port to listen on: 0 (a free one) to 65535.
     */
    static final class ListenPortConverter implements CommandLine.ITypeConverter<Integer>
    {
        public Integer convert(final String value)
        {
            return (int)parse(value, 0, 65_535, "a port (0 for a free one, or 1 to 65535)");
        }
    }

    /**
     * A timeout in milliseconds: 1 to 2^31 - 1 (the most a socket timeout takes, about 24 days).
     */
    static final class MillisConverter implements CommandLine.ITypeConverter<Long>
    {
        public Long convert(final String value)
        {
            return parse(value, 1, Integer.MAX_VALUE, "a number of milliseconds from 1 to " + Integer.MAX_VALUE);
        }
    }

    /**
     * A positive duration that fits the protocol's milliseconds: a number and a unit, {@code ms}, {@code s},
     * {@code m}, {@code h} or {@code d} (500ms, 30s, 5m, 1h, 7d; a day is 24 h), or ISO-8601 (PT5M, PT1H30M).
     */
    static final class DurationConverter implements CommandLine.ITypeConverter<Duration>
    {
        private static final Pattern SHORT = Pattern.compile("(\\d+)(ms|s|m|h|d)");

        public Duration convert(final String value)
        {
            final String text = value.trim();
            final Duration duration;
            try
            {
                final Matcher shortForm = SHORT.matcher(text);
                duration = shortForm.matches() ? shortForm(shortForm.group(1), shortForm.group(2)) :
                    Duration.parse(text);
                duration.toMillis();
            }
            catch (final DateTimeParseException ex)
            {
                throw new CommandLine.TypeConversionException("'" + value +
                    "' is not a duration such as 500ms, 30s, 5m, 1h, 7d or ISO-8601 (PT30S, PT5M, PT1H)");
            }
            catch (final ArithmeticException | NumberFormatException ex)
            {
                throw new CommandLine.TypeConversionException(
                    "'" + value + "' is too long: the protocol carries a duration in milliseconds (a 64-bit number)");
            }
            if (duration.isNegative() || duration.toMillis() == 0)
            {
                throw new CommandLine.TypeConversionException("'" + value + "' is not positive (1 ms at least)");
            }
            return duration;
        }

        private static Duration shortForm(final String amount, final String unit)
        {
            final long n = Long.parseLong(amount);
            return switch (unit)
            {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofMillis(Math.multiplyExact(n, 1_000L));
                case "m" -> Duration.ofMillis(Math.multiplyExact(n, 60_000L));
                case "h" -> Duration.ofMillis(Math.multiplyExact(n, 3_600_000L));
                default -> Duration.ofMillis(Math.multiplyExact(n, 86_400_000L));
            };
        }
    }
}
