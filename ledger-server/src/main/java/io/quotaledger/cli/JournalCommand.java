package io.quotaledger.cli;

import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Result;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.JournalReader;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.io.BufferedWriter;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.Callable;

/**
 * Lists journaled outcomes in a readable form, filtered by user, time and type: the answer to "why was I charged".
 */
@CommandLine.Command(
    name = "journal",
    mixinStandardHelpOptions = true,
    description = {
        "Lists journaled outcomes, filtered by user, time and type: why was I charged?",
        "",
        "One line per outcome: sequence, time, type, operation, request id, user, service " +
            "and the amounts that type carries (fromFree/fromBalance charged, returnedFree/returnedBalance given " +
            "back, balanceAfter), the hold id of hold events and the result code of rejections. Reads only.",
        "" })
final class JournalCommand implements Callable<Integer>
{
    @Option(names = "--data", required = true, paramLabel = "DIR",
        description = "The ledger's data directory (holds journal/ and snapshots/).")
    Path data;

    @Option(names = "--user", paramLabel = "U", description = "Only outcomes of this user.")
    Long user;

    @Option(names = "--from", paramLabel = "T", converter = Tools.TimeConverter.class,
        description = "Only outcomes at or after T: ISO-8601 (2026-11-22T10:00:00Z) or epoch ms.")
    Long from;

    @Option(names = "--to", paramLabel = "T", converter = Tools.TimeConverter.class,
        description = "Only outcomes at or before T: ISO-8601 or epoch ms.")
    Long to;

    @Option(names = "--type", paramLabel = "TYPE", split = ",", converter = TypeConverter.class,
        description = "Only these outcome types, comma separated: ${COMPLETION-CANDIDATES}.")
    List<OutcomeType> types;

    @Option(names = "--limit", paramLabel = "N", description = "Print at most N outcomes.")
    Long limit;

    @Option(names = "--json", description = "Print one JSON object per outcome (JSON Lines).")
    boolean json;

    public Integer call()
    {
        return Tools.run("journal", this::list);
    }

    private int list() throws Exception
    {
        if (limit != null && limit < 0)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "--limit must be >= 0");
        }
        if (from != null && to != null && from > to)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "--from is after --to");
        }
        final DataDir dir = Tools.existingDataDir(data);
        final EnumSet<OutcomeType> wanted = types == null || types.isEmpty() ?
            EnumSet.allOf(OutcomeType.class) : EnumSet.copyOf(types);
        final long max = limit == null ? Long.MAX_VALUE : limit;
        final long[] printed = { 0 };
        final StringBuilder line = new StringBuilder(256);
        // a big listing goes through one buffered writer, not a flush per line
        final PrintWriter out = new PrintWriter(new BufferedWriter(
            new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16), false);
        final JournalReader.ReadResult read;
        final JournalReader.End end;
        try (JournalReader reader = JournalReader.open(dir))
        {
            if (max == 0)
            {
                return 0;
            }
            read = reader.read(0, (sequence, outcome) ->
            {
                if (to != null && outcome.timestamp() > to)
                {
                    return false; // time never goes backwards in the journal: nothing later can match
                }
                if ((user != null && outcome.userId() != user) || (from != null && outcome.timestamp() < from) ||
                    !wanted.contains(outcome.type()))
                {
                    return true;
                }
                line.setLength(0);
                if (json)
                {
                    json(line, sequence, outcome);
                }
                else
                {
                    text(line, sequence, outcome);
                }
                out.println(line);
                return ++printed[0] < max;
            });
            end = read.stopped() ? null : reader.end();
        }
        finally
        {
            out.flush();
        }
        if (end != null && end.problem() != null)
        {
            System.err.println("ledger journal: listed up to outcome " + end.lastSequence() + "; journal corrupted: " +
                end.problem());
            return Tools.EXIT_FAILURE;
        }
        if (read.tornTail() != null)
        {
            System.err.println("ledger journal: passed over " + read.skipped() + " bad document(s) that the journal " +
                "continues after; last: " + read.tornTail());
        }
        return 0;
    }

    static void text(final StringBuilder out, final long sequence, final Outcome o)
    {
        // padded by hand: String.format per line would halve the listing speed
        pad(out, Long.toString(sequence), 10, true).append("  ");
        pad(out, Tools.isoTime(o.timestamp()), 24, false).append("  ");
        pad(out, o.type().name(), 13, false).append("  ");
        pad(out, o.op().name(), 9, false).append("  ");
        out.append(new UUID(o.requestIdHi(), o.requestIdLo())).append("  userId=").append(o.userId());
        fields(o, (name, value, quoted) -> out.append(' ').append(name).append('=').append(value));
    }

    private static StringBuilder pad(final StringBuilder out, final String s, final int width, final boolean right)
    {
        if (!right)
        {
            out.append(s);
        }
        for (int i = s.length(); i < width; i++)
        {
            out.append(' ');
        }
        return right ? out.append(s) : out;
    }

    static void json(final StringBuilder out, final long sequence, final Outcome o)
    {
        out.append("{\"sequence\":").append(sequence)
            .append(",\"time\":").append(Tools.quote(Tools.isoTime(o.timestamp())))
            .append(",\"timestamp\":").append(o.timestamp())
            .append(",\"type\":\"").append(o.type()).append('"')
            .append(",\"op\":\"").append(o.op()).append('"')
            .append(",\"requestId\":\"").append(new UUID(o.requestIdHi(), o.requestIdLo())).append('"')
            .append(",\"userId\":").append(o.userId());
        fields(o, (name, value, quoted) ->
            out.append(",\"").append(name).append("\":").append(quoted ? Tools.quote(value) : value));
        out.append('}');
    }

    @FunctionalInterface
    private interface FieldSink
    {
        void field(String name, String value, boolean quoted);
    }

    /**
     * The fields an outcome of this type carries (see {@link Outcome}'s layout), in reading order.
     */
    private static void fields(final Outcome o, final FieldSink sink)
    {
        final OutcomeType type = o.type();
        if (o.serviceId() != 0)
        {
            sink.field("serviceId", Integer.toString(o.serviceId()), false);
        }
        if (type.name().startsWith("HOLD_") || (type == OutcomeType.REJECTED && (o.holdIdHi() | o.holdIdLo()) != 0))
        {
            sink.field("holdId", new UUID(o.holdIdHi(), o.holdIdLo()).toString(), true);
        }
        switch (type)
        {
            case CREDITED -> number(sink, "amount", o.amount());
            case CHARGED ->
            {
                number(sink, "fromFree", o.fromFree());
                number(sink, "fromBalance", o.fromBalance());
                number(sink, "freeUsedAfter", o.freeUsedAfter());
            }
            case HOLD_OPENED ->
            {
                number(sink, "fromFree", o.fromFree());
                number(sink, "fromBalance", o.fromBalance());
                sink.field("expiresAt", Tools.isoTime(o.expiresAt()), true);
            }
            case HOLD_SETTLED ->
            {
                number(sink, "actual", o.amount());
                number(sink, "fromFree", o.fromFree());
                number(sink, "fromBalance", o.fromBalance());
                number(sink, "returnedFree", o.returnedFree());
                number(sink, "returnedBalance", o.returnedBalance());
                if ((o.flags() & Result.FLAG_EXCEEDED_HOLD) != 0)
                {
                    sink.field("exceededHold", "true", false);
                }
            }
            case HOLD_RELEASED, HOLD_EXPIRED ->
            {
                number(sink, "returnedFree", o.returnedFree());
                number(sink, "returnedBalance", o.returnedBalance());
            }
            case GRANTED ->
            {
                number(sink, "allowance", o.amount());
                sink.field("period", String.valueOf(o.periodType()), true);
                number(sink, "freeUsedAfter", o.freeUsedAfter());
            }
            case LIMIT_SET -> number(sink, "creditLimit", o.amount());
            case REJECTED ->
            {
                sink.field("code", o.code().name(), true);
                number(sink, "amount", o.amount());
            }
            default ->
            {
                // FROZEN, UNFROZEN: nothing but the balance
            }
        }
        if (type != OutcomeType.REJECTED)
        {
            number(sink, "balanceAfter", o.balanceAfter());
        }
    }

    private static void number(final FieldSink sink, final String name, final long value)
    {
        sink.field(name, Long.toString(value), false);
    }

    /**
     * Outcome type names, in any case.
     */
    static final class TypeConverter implements CommandLine.ITypeConverter<OutcomeType>
    {
        public OutcomeType convert(final String value)
        {
            try
            {
                return OutcomeType.valueOf(value.trim().toUpperCase(Locale.ROOT));
            }
            catch (final IllegalArgumentException ex)
            {
                throw new CommandLine.TypeConversionException("'" + value + "' is not an outcome type; one of " +
                    java.util.Arrays.toString(OutcomeType.values()));
            }
        }
    }
}
