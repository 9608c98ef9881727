package io.quotaledger.cli;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerEngine;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.engine.ResultListener;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalFormat;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Journals;
import io.quotaledger.journal.Recovery;
import io.quotaledger.journal.SnapshotStore;
import net.openhft.chronicle.core.time.SetTimeProvider;
import net.openhft.chronicle.queue.ExcerptAppender;
import net.openhft.chronicle.queue.RollCycles;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueueBuilder;
import net.openhft.chronicle.wire.DocumentContext;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OperatorToolsTest
{
    private static final long PHASE_ONE = Instant.parse("2026-11-22T09:00:00Z").toEpochMilli();
    private static final long PHASE_TWO = Instant.parse("2026-11-22T11:00:00Z").toEpochMilli();
    private static final int USERS = 40;
    private static final String WINDOW = "100000";

    @TempDir
    Path temp;

    private final LedgerConfig ledgerConfig = new LedgerConfig().dedupeWindowCount(100_000);
    private final Cli cli = new Cli();

    /**
     * What the workload left behind.
     */
    private record Built(DataDir dir, long checksum, long lastSequence, long snapshotSequence, Ledger ledger)
    {
    }

    /**
     * Credits and grants at 09:00, a random workload, a snapshot, more at 11:00; then closes the runtime.
     */
    private Built build(final String name, final boolean snapshot) throws Exception
    {
        final DataDir dir = new DataDir(temp.resolve(name));
        final AtomicLong clock = new AtomicLong(PHASE_ONE);
        final LedgerRuntime runtime = LedgerRuntime.start(
            new LedgerRuntime.Settings(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ledger(ledgerConfig).clock(clock::get));
        final Command command = new Command();
        final List<Command> setUp = new ArrayList<>();
        for (int user = 1; user <= USERS; user++)
        {
            setUp.add(new Command().op(Op.CREDIT).requestId(1, user).userId(user).amount(5_000));
            if (user % 2 == 0)
            {
                setUp.add(new Command().op(Op.GRANT).requestId(2, user).userId(user).serviceId(1).amount(100)
                    .period(Period.DAY));
            }
        }
        submit(runtime.engine(), setUp);
        submit(runtime.engine(), workload(3, 3_000));
        long snapshotSequence = 0;
        if (snapshot)
        {
            snapshotSequence = runtime.snapshotter().snapshot().get(30, TimeUnit.SECONDS).sequence();
        }
        clock.set(PHASE_TWO);
        submit(runtime.engine(), workload(4, 1_000));
        runtime.close(); // the ticker may still expire holds until then
        final long lastSequence = runtime.journal().lastSequence();
        final Ledger ledger = runtime.engine().ledgerAfterClose();
        return new Built(dir, ledger.checksum(), lastSequence, snapshotSequence, ledger);
    }

    private static List<Command> workload(final long seed, final int count)
    {
        final Random random = new Random(seed);
        final List<Command> commands = new ArrayList<>();
        for (int i = 1; i <= count; i++)
        {
            final long user = 1 + random.nextInt(USERS + 2); // a few unknown users: rejections
            final Command c = switch (random.nextInt(5))
            {
                case 0 -> new Command().op(Op.RESERVE).userId(user).serviceId(1).amount(1 + random.nextInt(40))
                    .ttlMillis(60_000);
                case 1 -> new Command().op(Op.SETTLE).holdId(seed + 10, i - 1 - random.nextInt(10))
                    .amount(random.nextInt(50));
                default -> new Command().op(Op.DEDUCT).userId(user).serviceId(1).amount(1 + random.nextInt(60));
            };
            commands.add(c.requestId(seed + 10, i));
        }
        return commands;
    }

    private static void submit(final LedgerEngine engine, final List<Command> commands) throws Exception
    {
        final CountDownLatch done = new CountDownLatch(commands.size());
        final ResultListener listener = (correlationId, arrivalNanos, command, result) -> done.countDown();
        for (final Command command : commands)
        {
            engine.submit(command, listener, 0);
        }
        assertTrue(done.await(30, TimeUnit.SECONDS));
    }

    private static String field(final String json, final String name)
    {
        final Matcher m = Pattern.compile("\"" + name + "\":(\"[^\"]*\"|[^,}\\]]*)").matcher(json);
        assertTrue(m.find(), name + " in " + json);
        final String value = m.group(1);
        return value.startsWith("\"") ? value.substring(1, value.length() - 1) : value;
    }

    private static long count(final String text, final String what)
    {
        return Pattern.compile(Pattern.quote(what)).matcher(text).results().count();
    }

    private String[] data(final Built built, final String command, final String... more)
    {
        final List<String> args = new ArrayList<>(List.of(command, "--data", built.dir().root().toString(),
            "--dedupe-window-count", WINDOW));
        args.addAll(List.of(more));
        return args.toArray(new String[0]);
    }

    @Test
    void shouldReplayToTheRuntimesStateFromSnapshotOrJournalAndUpToAPoint() throws Exception
    {
        final Built built = build("replay", true);

        assertEquals(0, cli.run(data(built, "replay", "--json")), cli.err);
        assertEquals(String.format("%016x", built.checksum()), field(cli.out, "checksum"));
        assertEquals(built.lastSequence(), Long.parseLong(field(cli.out, "lastSequence")));
        assertEquals(String.format("snapshot-%020d.snap", built.snapshotSequence()), field(cli.out, "snapshot"));
        assertEquals(built.lastSequence() - built.snapshotSequence(), Long.parseLong(field(cli.out, "replayed")));
        assertEquals(PHASE_TWO, Long.parseLong(field(cli.out, "lastTimestamp")));

        assertEquals(0, cli.run(data(built, "replay", "--no-snapshot", "--json")), cli.err);
        assertEquals(String.format("%016x", built.checksum()), field(cli.out, "checksum"));
        assertEquals("null", field(cli.out, "snapshot"));
        assertEquals(built.lastSequence(), Long.parseLong(field(cli.out, "replayed")));

        // up to a sequence: the journal alone, since the snapshot lies beyond it
        final Recovery.Result upTo100 = Recovery.recover(built.dir(), () -> new Ledger(ledgerConfig, OutcomeSink.NONE),
            false, new Recovery.Limit(100, Long.MAX_VALUE), Recovery.Progress.NONE);
        assertEquals(0, cli.run(data(built, "replay", "--to-index", "100", "--json")), cli.err);
        assertEquals(100, Long.parseLong(field(cli.out, "lastSequence")));
        assertEquals(String.format("%016x", upTo100.ledger().checksum()), field(cli.out, "checksum"));

        // up to a time between the phases: exactly the snapshot's state
        assertEquals(0, cli.run(data(built, "replay", "--to-time", "2026-11-22T10:00:00Z", "--no-snapshot", "--json")),
            cli.err);
        assertEquals(built.snapshotSequence(), Long.parseLong(field(cli.out, "lastSequence")));
        assertEquals(0, cli.run(data(built, "replay", "--to-time", Long.toString(PHASE_ONE), "--json")), cli.err);
        assertEquals(String.format("snapshot-%020d.snap", built.snapshotSequence()), field(cli.out, "snapshot"));
        assertEquals("0", field(cli.out, "replayed"));

        assertEquals(0, cli.run(data(built, "replay")), cli.err);
        assertTrue(cli.out.contains("checksum " + String.format("%016x", built.checksum())), cli.out);
    }

    @Test
    void shouldExportEveryAccountAsCsvAndJson() throws Exception
    {
        final Built built = build("export", true);
        final List<String> expected = new ArrayList<>();
        built.ledger().forEachAccount((userId, balance, held, creditLimit, frozen) ->
            expected.add(userId + "," + balance + "," + held + "," + creditLimit + "," + frozen));

        final Path csv = temp.resolve("out/accounts.csv");
        assertEquals(0, cli.run(data(built, "replay", "--export", csv.toString(), "--json")), cli.err);
        assertEquals(Integer.toString(USERS), field(cli.out, "exported"));
        final List<String> lines = Files.readAllLines(csv);
        assertEquals("userId,balance,held,creditLimit,frozen", lines.get(0));
        assertEquals(expected, lines.subList(1, lines.size()));

        final Path json = temp.resolve("out/accounts.JSON");
        assertEquals(0, cli.run(data(built, "replay", "--export", json.toString())), cli.err);
        final String text = Files.readString(json).trim();
        assertTrue(text.startsWith("[") && text.endsWith("]"), text);
        assertEquals(USERS, count(text, "{\"userId\":"));
        final String[] first = expected.get(0).split(",");
        assertTrue(text.contains("{\"userId\":" + first[0] + ",\"balance\":" + first[1] + ",\"held\":" + first[2] +
            ",\"creditLimit\":" + first[3] + ",\"frozen\":" + first[4] + "}"), text);
    }

    @Test
    void shouldPassVerifyAndFailItWhenTheNewestSnapshotIsDamaged() throws Exception
    {
        final Built built = build("verify", true);
        assertEquals(0, cli.run(data(built, "verify", "--json")), cli.err);
        assertEquals("true", field(cli.out, "ok"));
        assertEquals(4, count(cli.out, "\"status\":\"pass\""), cli.out);

        final Path snapshot = new SnapshotStore(built.dir()).list().get(0).path();
        try (FileChannel channel = FileChannel.open(snapshot, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final ByteBuffer b = ByteBuffer.allocate(1);
            channel.read(b, 100);
            b.put(0, (byte)(b.get(0) ^ 0x5A)).position(0);
            channel.write(b, 100);
        }
        assertEquals(1, cli.run(data(built, "verify", "--json")));
        assertEquals("false", field(cli.out, "ok"));
        assertTrue(cli.out.contains("payload checksum mismatch"), cli.out);
        // recovery passed it over, and it does not load
        assertEquals(2, count(cli.out, "\"status\":\"fail\""), cli.out);
        assertTrue(cli.err.contains("check(s) failed"), cli.err);

        assertEquals(1, cli.run(data(built, "verify")));
        assertTrue(cli.out.contains("FAIL") && cli.out.contains("VERIFY FAILED"), cli.out);
    }

    @Test
    void shouldListTheJournalByUserTypeAndTime() throws Exception
    {
        final Built built = build("journal", false);
        final long user = 3;
        final long[] expected = { 0, 0 };
        try (JournalReader reader = JournalReader.open(built.dir()))
        {
            reader.read(0, (sequence, outcome) ->
            {
                if (outcome.userId() == user)
                {
                    expected[0]++;
                    expected[1] += outcome.type() == OutcomeType.CHARGED || outcome.type() == OutcomeType.REJECTED ?
                        1 : 0;
                }
                return true;
            });
        }
        assertTrue(expected[1] > 0);

        assertEquals(0, cli.run("journal", "--data", built.dir().root().toString(), "--user", "3", "--json"), cli.err);
        final String[] all = cli.out.split("\n");
        assertEquals(expected[0], all.length);
        for (final String line : all)
        {
            assertTrue(line.startsWith("{") && line.endsWith("}") && line.contains("\"userId\":3,"), line);
        }
        assertEquals(new UUID(1, 3).toString(), field(all[0], "requestId"));
        assertEquals("CREDITED", field(all[0], "type"));
        assertEquals("5000", field(all[0], "balanceAfter"));

        assertEquals(0, cli.run("journal", "--data", built.dir().root().toString(), "--user", "3", "--type",
            "charged,Rejected", "--json"), cli.err);
        assertEquals(expected[1], cli.out.split("\n").length);
        assertFalse(cli.out.contains("HOLD_"), cli.out);
        assertTrue(cli.out.contains("\"fromBalance\":"), cli.out);

        assertEquals(0, cli.run("journal", "--data", built.dir().root().toString(), "--from", "2026-11-22T10:00:00Z",
            "--limit", "5"), cli.err);
        final String[] lines = cli.out.split("\n");
        assertEquals(5, lines.length);
        assertTrue(lines[0].contains("2026-11-22T11:00:00Z"), lines[0]);
        assertEquals(0, cli.run("journal", "--data", built.dir().root().toString(), "--to", "2026-11-22T10:00:00Z",
            "--type", "hold_settled", "--json"), cli.err);
        assertFalse(cli.out.contains("11:00:00Z"), cli.out);
        assertTrue(cli.out.contains("\"returnedBalance\":") && cli.out.contains("\"holdId\":"), cli.out);
    }

    @Test
    void shouldTakeASnapshotThatRecoveryThenUses() throws Exception
    {
        final Built built = build("snapshot", true);
        assertEquals(0, cli.run(data(built, "snapshot", "--keep", "1", "--json")), cli.err);
        final Path file = Path.of(field(cli.out, "file"));
        assertTrue(Files.size(file) > 64);
        assertEquals(Files.size(file), Long.parseLong(field(cli.out, "bytes")));
        assertEquals(built.lastSequence(), Long.parseLong(field(cli.out, "sequence")));
        assertEquals(1, new SnapshotStore(built.dir()).list().size(), "--keep 1 pruned the runtime's snapshot");

        final Recovery.Result recovered = Recovery.recover(built.dir(),
            () -> new Ledger(ledgerConfig, OutcomeSink.NONE));
        assertEquals(file, recovered.snapshot().path());
        assertEquals(0, recovered.replayed());
        assertEquals(built.checksum(), recovered.ledger().checksum());

        assertEquals(0, cli.run(data(built, "snapshot")), cli.err);
        assertTrue(cli.out.contains(file.getFileName().toString()), cli.out);
    }

    @Test
    void shouldRefuseToArchiveWithoutASnapshotAndKeepTheNewestCycle() throws Exception
    {
        final Built built = build("live", false);
        final Path archive = temp.resolve("archive");
        final List<Path> before = cycleFiles(built.dir());
        assertEquals(1, cli.run(data(built, "archive", "--to", archive.toString())));
        assertTrue(cli.err.contains("no valid snapshot"), cli.err);
        assertEquals(before, cycleFiles(built.dir()));
        assertFalse(Files.exists(archive));

        assertEquals(0, cli.run(data(built, "snapshot")), cli.err);
        assertEquals(0, cli.run(data(built, "archive", "--to", archive.toString(), "--dry-run", "--json")), cli.err);
        assertEquals("0", field(cli.out, "moved"));
        assertEquals("false", field(cli.out, "archive"));
        assertEquals("the newest cycle file", field(cli.out, "reason"));
        assertEquals(before, cycleFiles(built.dir()));
    }

    @Test
    void shouldArchiveOnlyCyclesTheNewestSnapshotCovers() throws Exception
    {
        final DataDir dir = new DataDir(temp.resolve("cycles")).create();
        final Path archive = temp.resolve("archived");
        final long day = 86_400_000L;
        final long start = PHASE_ONE - 3 * day;
        writeCycles(dir, start, 1, 2, 1);
        final String[] base = { "--data", dir.root().toString(), "--dedupe-window-count", WINDOW };
        assertEquals(0, cli.run(concat(new String[] { "snapshot", "--json" }, base)), cli.err);
        assertEquals("40", field(cli.out, "sequence"));
        writeCycles(dir, start + 2 * day, 41, 2, 0);
        final long journalAlone = Recovery.recover(dir, () -> new Ledger(ledgerConfig, OutcomeSink.NONE), false,
            Recovery.Limit.END, Recovery.Progress.NONE).ledger().checksum();
        assertEquals(4, cycleFiles(dir).size());

        assertEquals(0, cli.run(concat(new String[] { "archive", "--dry-run", "--to", archive.toString() }, base)),
            cli.err);
        assertEquals(3, count(cli.out, "would move"), cli.out); // two files, and the total
        assertTrue(cli.out.contains("holds outcomes after the snapshot"), cli.out);
        assertEquals(4, cycleFiles(dir).size());

        assertEquals(0, cli.run(concat(new String[] { "archive", "--to", archive.toString(), "--json" }, base)),
            cli.err);
        assertEquals("2", field(cli.out, "moved"));
        assertEquals(2, cycleFiles(dir).size());
        try (Stream<Path> files = Files.list(archive))
        {
            assertEquals(2, files.count());
        }
        assertTrue(Files.exists(dir.journal().resolve("metadata.cq4t")));

        final Recovery.Result recovered = Recovery.recover(dir, () -> new Ledger(ledgerConfig, OutcomeSink.NONE));
        assertEquals(40, recovered.snapshot().sequence());
        assertEquals(80, recovered.lastSequence());
        assertEquals(journalAlone, recovered.ledger().checksum());

        assertEquals(0, cli.run(concat(new String[] { "verify", "--json" }, base)), cli.err + cli.out);
        assertEquals("41", field(cli.out, "journalFirst"));
        assertEquals(2, count(cli.out, "\"status\":\"skip\""), cli.out);

        // nothing more may go: every cycle left holds outcomes after the snapshot
        assertEquals(0, cli.run(concat(new String[] { "archive", "--to", archive.toString(), "--json" }, base)),
            cli.err);
        assertEquals("0", field(cli.out, "moved"));
    }

    @Test
    void shouldFailWithAClearMessageOnBadInput() throws Exception
    {
        final Path missing = temp.resolve("missing");
        assertEquals(2, cli.run("replay", "--data", missing.toString()));
        assertTrue(cli.err.contains("no data directory"), cli.err);
        Files.createDirectories(missing);
        for (final String command : List.of("replay", "verify", "journal", "snapshot"))
        {
            assertEquals(2, cli.run(command, "--data", missing.toString()), command);
            assertTrue(cli.err.contains("no journal in"), cli.err);
        }
        assertEquals(2, cli.run("archive", "--data", missing.toString(), "--to", temp.resolve("a").toString()));
        assertFalse(Files.exists(missing.resolve("journal")), "a tool never creates a journal");

        final Built built = build("bad", false);
        assertNotEquals(0, cli.run(data(built, "replay", "--to-time", "yesterday")));
        assertTrue(cli.err.contains("--to-time") && cli.err.contains("ISO-8601"), cli.err);
        assertEquals(2, cli.run(data(built, "replay", "--export", temp.resolve("a.xml").toString())));
        assertTrue(cli.err.contains(".csv or .json"), cli.err);
        assertEquals(2, cli.run(data(built, "replay", "--to-sequence", "5", "--to-time", "5")));
        assertNotEquals(0, cli.run("journal", "--data", built.dir().root().toString(), "--type", "CHARGE"));
        assertTrue(cli.err.contains("not an outcome type"), cli.err);
        assertEquals(2, cli.run(data(built, "snapshot", "--keep", "0")));
        assertEquals(2, cli.run(data(built, "archive", "--to", built.dir().journal().resolve("x").toString())));
        assertNotEquals(0, cli.run("replay"));
        assertTrue(cli.err.contains("--data"), cli.err);
    }

    @Test
    void shouldPrintHelpForEveryTool()
    {
        for (final String command : List.of("replay", "verify", "journal", "snapshot", "archive"))
        {
            assertEquals(0, cli.run(command, "--help"), command);
            assertTrue(cli.out.contains("--data"), cli.out);
        }
        assertEquals(0, cli.run("snapshot", "--help"));
        assertTrue(cli.out.contains("ledger serve"), cli.out);
        assertEquals(0, cli.run("archive", "--help"));
        assertTrue(cli.out.contains("stopped"), cli.out);
        assertEquals(0, cli.run("replay", "--help"));
        assertTrue(cli.out.contains("--to-index") && cli.out.contains("sequence"), cli.out);
    }

    private static String[] concat(final String[] a, final String[] b)
    {
        final String[] all = new String[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    private static List<Path> cycleFiles(final DataDir dir) throws Exception
    {
        try (Stream<Path> files = Files.list(dir.journal()))
        {
            return files.filter(f -> f.toString().endsWith(".cq4")).sorted().toList();
        }
    }

    /**
     * Writes {@code days} daily cycle files straight through Chronicle Queue with a set clock, each with 4 documents
     * of 5 CREDITED outcomes, in the journal's document layout; {@code tornPerCycle} torn documents (bad checksum)
     * follow the first document of each cycle.
     */
    private static void writeCycles(
        final DataDir dir, final long startMillis, final long firstSequence, final int days, final int tornPerCycle)
    {
        final SetTimeProvider time = new SetTimeProvider(Instant.ofEpochMilli(startMillis));
        final Outcome outcome = new Outcome();
        final CRC32C crc = new CRC32C();
        long sequence = firstSequence;
        try (SingleChronicleQueue queue = SingleChronicleQueueBuilder.single(dir.journal().toFile())
            .rollCycle(RollCycles.FAST_DAILY).timeProvider(time).build();
            ExcerptAppender appender = queue.createAppender())
        {
            for (int day = 0; day < days; day++)
            {
                time.currentTimeMillis(startMillis + day * 86_400_000L + 1_000);
                for (int document = 0; document < 4; document++)
                {
                    final int count = 5;
                    final byte[] bytes = new byte[JournalFormat.documentLength(count)];
                    final UnsafeBuffer buffer = new UnsafeBuffer(bytes);
                    buffer.putInt(0, JournalFormat.MAGIC, ByteOrder.LITTLE_ENDIAN);
                    buffer.putShort(4, JournalFormat.VERSION, ByteOrder.LITTLE_ENDIAN);
                    buffer.putLong(8, sequence, ByteOrder.LITTLE_ENDIAN);
                    buffer.putInt(16, count, ByteOrder.LITTLE_ENDIAN);
                    for (int i = 0; i < count; i++, sequence++)
                    {
                        final long user = 1 + sequence % 7;
                        outcome.reset(OutcomeType.CREDITED, Op.CREDIT, startMillis + day * 86_400_000L + sequence)
                            .requestId(7, sequence).userId(user).amount(10).balanceAfter(10 * (1 + sequence / 7))
                            .fingerprint(sequence);
                        outcome.encode(buffer, JournalFormat.HEADER_LENGTH + i * Outcome.LENGTH);
                    }
                    crc.reset();
                    crc.update(bytes, 0, bytes.length - JournalFormat.TRAILER_LENGTH);
                    buffer.putInt(bytes.length - JournalFormat.TRAILER_LENGTH, (int)crc.getValue(),
                        ByteOrder.LITTLE_ENDIAN);
                    append(appender, bytes);
                    if (document == 0)
                    {
                        for (int t = 0; t < tornPerCycle; t++)
                        {
                            final byte[] torn = bytes.clone();
                            torn[30] ^= 1;
                            append(appender, torn);
                        }
                    }
                }
            }
        }
    }

    private static void append(final ExcerptAppender appender, final byte[] bytes)
    {
        try (DocumentContext document = appender.writingDocument())
        {
            document.wire().bytes().write(bytes);
        }
    }

    static
    {
        assertNotNull(Journals.rollCycle("daily")); // loads Journals, which turns Chronicle's analytics off
    }
}
