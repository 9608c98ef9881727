package io.quotaledger.cli;

import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.JournalReader;
import org.agrona.concurrent.UnsafeBuffer;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.io.BufferedWriter;
import java.math.BigDecimal;
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
 * Lists journaled outcomes in a readable form, filtered by user, virtual key, time, type and result code: the answer
 * to "why was I charged" and "why was I rejected".
 */
@CommandLine.Command(
    name = "journal",
    mixinStandardHelpOptions = true,
    description = {
        "Lists journaled outcomes, filtered by user, virtual key, time, type and result code: why was I charged, " +
            "why was I rejected?",
        "",
        "One line per outcome: sequence, time, type, operation, request id, user, service " +
            "and the fields that type carries (fromFree/fromBalance charged, returnedFree/returnedBalance given " +
            "back, balanceAfter), the hold id of hold events, the result code of rejections with the virtual key, " +
            "units and retryAfterMillis they carry, the key's spend after a charge through it (POLICY_APPLIED) " +
            "and every policy setting. Reads only.",
        "",
        "Why was I rejected: ledger journal --data DIR --user U --virtual-key K --rejected [--code RATE_LIMITED]",
        "" })
final class JournalCommand implements Callable<Integer>
{
    @Option(names = "--data", required = true, paramLabel = "DIR",
        description = "The ledger's data directory (holds journal/ and snapshots/).")
    Path data;

    @Option(names = "--user", paramLabel = "U", description = "Only outcomes of this user.")
    Long user;

    @Option(names = "--virtual-key", paramLabel = "K",
        description = "Only outcomes that name this virtual key: its settings, rejections of requests through it, " +
            "and charges and holds through it (each followed by its POLICY_APPLIED: the key's spend after).")
    Long virtualKey;

    @Option(names = "--rejected", description = "Only rejections (type REJECTED).")
    boolean rejected;

    @Option(names = "--code", paramLabel = "CODE", split = ",", converter = CodeConverter.class,
        description = "Only rejections with these result codes, comma separated, e.g. RATE_LIMITED," +
            "SPEND_WINDOW_EXCEEDED,VIRTUAL_KEY_BUDGET_EXCEEDED,INSUFFICIENT_FUNDS.")
    List<ResultCode> codes;

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
        if (virtualKey != null && virtualKey <= 0)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "--virtual-key must be > 0");
        }
        final EnumSet<OutcomeType> wanted = types == null || types.isEmpty() ?
            EnumSet.allOf(OutcomeType.class) : EnumSet.copyOf(types);
        final EnumSet<ResultCode> wantedCodes = codes == null || codes.isEmpty() ?
            EnumSet.allOf(ResultCode.class) : EnumSet.copyOf(codes);
        if (rejected || codes != null && !codes.isEmpty())
        {
            if (!wanted.contains(OutcomeType.REJECTED))
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, "--rejected and --code list REJECTED outcomes, " +
                    "which --type leaves out");
            }
            wanted.retainAll(EnumSet.of(OutcomeType.REJECTED));
        }
        final DataDir dir = Tools.existingDataDir(data);
        // a big listing goes through one buffered writer, not a flush per line
        final PrintWriter out = new PrintWriter(new BufferedWriter(
            new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16), false);
        final Listing listing = new Listing(out, wanted, wantedCodes, limit == null ? Long.MAX_VALUE : limit);
        final JournalReader.ReadResult read;
        final JournalReader.End end;
        try (JournalReader reader = JournalReader.open(dir))
        {
            if (listing.max == 0)
            {
                return 0;
            }
            read = reader.read(0, listing);
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

    /**
     * Prints the outcomes that pass the filters. With {@code --virtual-key} a charge or hold outcome names no key
     * itself: it is held back until the next outcome, and printed when that is its POLICY_APPLIED through the key.
     */
    private final class Listing implements JournalReader.OutcomeHandler
    {
        private final PrintWriter out;
        private final EnumSet<OutcomeType> wanted;
        private final EnumSet<ResultCode> wantedCodes;
        private final long max;
        private final StringBuilder line = new StringBuilder(256);
        private final UnsafeBuffer copy = new UnsafeBuffer(new byte[Outcome.LENGTH]);
        private final Outcome held = new Outcome();
        private long heldSequence = -1;
        private long printed;

        Listing(final PrintWriter out, final EnumSet<OutcomeType> wanted, final EnumSet<ResultCode> wantedCodes,
            final long max)
        {
            this.out = out;
            this.wanted = wanted;
            this.wantedCodes = wantedCodes;
            this.max = max;
        }

        public boolean onOutcome(final long sequence, final Outcome outcome)
        {
            if (to != null && outcome.timestamp() > to)
            {
                return false; // time never goes backwards in the journal: nothing later can match
            }
            if (heldSequence >= 0)
            {
                final long charge = heldSequence;
                heldSequence = -1;
                if (outcome.type() == OutcomeType.POLICY_APPLIED && outcome.virtualKeyId() == virtualKey &&
                    !print(charge, held))
                {
                    return false;
                }
            }
            if (!passes(outcome))
            {
                return true;
            }
            if (virtualKey != null && outcome.virtualKeyId() != virtualKey)
            {
                if (chargeOrHold(outcome.type()))
                {
                    outcome.encode(copy, 0); // the reader reuses its outcome
                    held.decode(copy, 0);
                    heldSequence = sequence;
                }
                return true;
            }
            return print(sequence, outcome);
        }

        private boolean passes(final Outcome outcome)
        {
            return (user == null || outcome.userId() == user) && (from == null || outcome.timestamp() >= from) &&
                wanted.contains(outcome.type()) &&
                (outcome.type() != OutcomeType.REJECTED || wantedCodes.contains(outcome.code()));
        }

        /**
         * @return false once the limit is reached.
         */
        private boolean print(final long sequence, final Outcome outcome)
        {
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
            return ++printed < max;
        }
    }

    private static boolean chargeOrHold(final OutcomeType type)
    {
        return type == OutcomeType.CHARGED || type.name().startsWith("HOLD_");
    }

    static void text(final StringBuilder out, final long sequence, final Outcome o)
    {
        // padded by hand: String.format per line would halve the listing speed
        pad(out, Long.toString(sequence), 10, true).append("  ");
        pad(out, Tools.isoTime(o.timestamp()), 24, false).append("  ");
        pad(out, o.type().name(), 14, false).append("  ");
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
     * The fields an outcome of this type carries (see {@link Outcome}'s layout), in reading order. Optional ones
     * (a service, a virtual key, units, a limiter's time) are left out when absent.
     */
    private static void fields(final Outcome o, final FieldSink sink)
    {
        final OutcomeType type = o.type();
        if (o.serviceId() != 0 || type == OutcomeType.PRICE_SET) // PRICE_SET: service 0 is the group's default
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
                optional(sink, "virtualKeyId", o.virtualKeyId());
                optional(sink, "units", o.units());
                if (o.code() == ResultCode.RATE_LIMITED || o.code() == ResultCode.SPEND_WINDOW_EXCEEDED)
                {
                    number(sink, "retryAfterMillis", o.retryAfterMillis()); // -1: the request alone is over
                }
            }
            case POLICY_APPLIED ->
            {
                optional(sink, "virtualKeyId", o.virtualKeyId());
                number(sink, "amount", o.amount());
                optional(sink, "units", o.units());
                if (o.virtualKeyId() != 0)
                {
                    number(sink, "keySpentAfter", o.keySpentAfter());
                    number(sink, "keyServiceSpentAfter", o.keyServiceSpentAfter());
                    number(sink, "keyPeriodId", o.keyPeriodId());
                }
                optional(sink, "userRequestsTat", o.userRequestsTat());
                optional(sink, "userUnitsTat", o.userUnitsTat());
                optional(sink, "keyRequestsTat", o.keyRequestsTat());
                optional(sink, "keyUnitsTat", o.keyUnitsTat());
            }
            case VIRTUAL_KEY_SET -> virtualKeySet(o, sink);
            case VIRTUAL_KEY_SERVICE_BUDGET_SET ->
            {
                number(sink, "virtualKeyId", o.virtualKeyId());
                number(sink, "budget", o.amount());
                removed(sink, o.amount() < 0);
            }
            case VIRTUAL_KEY_REVOKED -> number(sink, "virtualKeyId", o.virtualKeyId());
            case PRICE_SET ->
            {
                number(sink, "groupId", o.groupId());
                sink.field("multiplier", multiplier(o.multiplier()), false);
            }
            case GROUP_SET -> number(sink, "groupId", o.groupId());
            case RATE_LIMIT_SET ->
            {
                optional(sink, "virtualKeyId", o.virtualKeyId());
                number(sink, "requests", o.requests());
                number(sink, "units", o.units());
                number(sink, "perMillis", o.perMillis());
                removed(sink, o.requests() == 0 && o.units() == 0);
            }
            case SPEND_WINDOW_SET ->
            {
                optional(sink, "virtualKeyId", o.virtualKeyId());
                number(sink, "max", o.amount());
                number(sink, "perMillis", o.perMillis());
                removed(sink, o.amount() == 0);
            }
            case CONCURRENCY_SET ->
            {
                optional(sink, "virtualKeyId", o.virtualKeyId());
                number(sink, "max", o.amount());
                removed(sink, o.amount() == 0);
            }
            default ->
            {
                // FROZEN, UNFROZEN: nothing but the balance
            }
        }
        if (type.code() < OutcomeType.REJECTED.code()) // types 1 to 10 carry the account's balance
        {
            number(sink, "balanceAfter", o.balanceAfter());
        }
    }

    /**
     * A key's whole configuration: its budget (or unlimited), how it resets, when it expires, its services.
     */
    private static void virtualKeySet(final Outcome o, final FieldSink sink)
    {
        number(sink, "virtualKeyId", o.virtualKeyId());
        sink.field("unlimited", Boolean.toString(o.unlimited()), false);
        if (!o.unlimited())
        {
            number(sink, "budget", o.amount());
        }
        final boolean every = o.resetPeriod() == null && o.resetMillis() > 0;
        sink.field("reset", o.resetPeriod() != null ? o.resetPeriod().name() : every ? "DURATION" : "NEVER", true);
        if (every)
        {
            number(sink, "resetMillis", o.resetMillis());
        }
        if (o.expiresAt() != 0)
        {
            sink.field("expiresAt", Tools.isoTime(o.expiresAt()), true);
        }
        if (o.serviceCount() > 0)
        {
            final StringBuilder services = new StringBuilder().append('[');
            for (int i = 0; i < o.serviceCount(); i++)
            {
                services.append(i == 0 ? "" : ",").append(o.service(i));
            }
            sink.field("services", services.append(']').toString(), false);
        }
    }

    /**
     * @return a fixed-point multiplier (six decimals) as an exact decimal: 1500000 is 1.5.
     */
    static String multiplier(final long micros)
    {
        final BigDecimal value = BigDecimal.valueOf(micros, 6).stripTrailingZeros();
        return (value.scale() < 0 ? value.setScale(0) : value).toPlainString();
    }

    private static void optional(final FieldSink sink, final String name, final long value)
    {
        if (value != 0)
        {
            number(sink, name, value);
        }
    }

    private static void removed(final FieldSink sink, final boolean removed)
    {
        if (removed)
        {
            sink.field("removed", "true", false);
        }
    }

    private static void number(final FieldSink sink, final String name, final long value)
    {
        sink.field(name, Long.toString(value), false);
    }

    /**
     * Names of an enum's constants, in any case; an unknown one is refused with every name it could have been.
     */
    abstract static class NameConverter<E extends Enum<E>> implements CommandLine.ITypeConverter<E>
    {
        private final Class<E> type;
        private final String what;

        NameConverter(final Class<E> type, final String what)
        {
            this.type = type;
            this.what = what;
        }

        public E convert(final String value)
        {
            try
            {
                return Enum.valueOf(type, value.trim().toUpperCase(Locale.ROOT));
            }
            catch (final IllegalArgumentException ex)
            {
                throw new CommandLine.TypeConversionException("'" + value + "' is not " + what + "; one of " +
                    java.util.Arrays.toString(type.getEnumConstants()));
            }
        }
    }

    static final class CodeConverter extends NameConverter<ResultCode>
    {
        CodeConverter()
        {
            super(ResultCode.class, "a result code");
        }
    }

    static final class TypeConverter extends NameConverter<OutcomeType>
    {
        TypeConverter()
        {
            super(OutcomeType.class, "an outcome type");
        }
    }
}
