package io.quotaledger.cli;

import io.quotaledger.core.Command;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.Journals;
import net.openhft.chronicle.wire.Wires;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What an operator sees from serve, replay, verify, journal and project when the newest journal data is damaged:
 * a message and exit code 1, never a stack trace or a start that quietly lost acknowledged changes; and serve
 * {@code --accept-journal-loss} starting from what is readable.
 */
class JournalDamageCliTest
{
    private static final String WINDOW = "100000";

    @TempDir
    Path temp;

    private final LedgerConfig ledgerConfig = new LedgerConfig().dedupeWindowCount(100_000);
    private final Cli cli = new Cli();

    /**
     * Credits in batches through a runtime, so that the journal holds several documents; a snapshot after the first
     * half when asked.
     */
    private DataDir build(final String name, final int credits, final boolean snapshot) throws Exception
    {
        final DataDir dir = new DataDir(temp.resolve(name));
        final LedgerRuntime runtime = LedgerRuntime.start(
            new LedgerRuntime.Settings(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ledger(ledgerConfig));
        for (int i = 1; i <= credits; i++)
        {
            runtime.engine().execute(new Command().op(Op.CREDIT).requestId(1, i).userId(1 + i % 50).amount(10), 5,
                TimeUnit.SECONDS);
            if (snapshot && i == credits / 2)
            {
                runtime.snapshotter().snapshot().get(30, TimeUnit.SECONDS);
            }
        }
        runtime.close();
        return dir;
    }

    private int tool(final String command, final DataDir dir, final String... more)
    {
        final List<String> args = new ArrayList<>(List.of(command, "--data", dir.root().toString(),
            "--dedupe-window-count", WINDOW));
        args.addAll(List.of(more));
        return cli.run(args.toArray(new String[0]));
    }

    /**
     * Serve in this JVM: it refuses before binding anything, or the test fails rather than hang.
     */
    private int serve(final DataDir dir)
    {
        return assertTimeoutPreemptively(Duration.ofSeconds(60), () -> cli.run("serve", "--data", dir.root().toString(),
            "--port", "0", "--metrics-port", "0", "--no-projector", "--dedupe-window", WINDOW));
    }

    private static Path cycleFile(final DataDir dir) throws IOException
    {
        try (Stream<Path> files = Files.list(dir.journal()))
        {
            return files.filter(f -> f.toString().endsWith(".cq4")).sorted().reduce((a, b) -> b).orElseThrow();
        }
    }

    /**
     * @return each data document of a cycle file as {header position, body length}: the chain of Chronicle's 4-byte
     * headers from the start of the file.
     */
    private static List<long[]> documents(final Path file) throws IOException
    {
        final List<long[]> documents = new ArrayList<>();
        try (FileChannel channel = FileChannel.open(file))
        {
            final ByteBuffer buffer = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder());
            long position = 0;
            while (true)
            {
                buffer.clear();
                channel.read(buffer, position);
                final int header = buffer.getInt(0);
                if (header == 0 || Wires.isNotComplete(header))
                {
                    return documents;
                }
                if (Wires.isData(header))
                {
                    documents.add(new long[] { position, Wires.lengthOf(header) });
                }
                position += 4 + Wires.lengthOf(header);
                position += (-position) & 3;
            }
        }
    }

    private static void copyFiles(final Path from, final Path to) throws IOException
    {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from))
        {
            for (final Path file : (Iterable<Path>)files::iterator)
            {
                Files.copy(file, to.resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    private static void assertNoStackTrace(final String text)
    {
        assertFalse(text.contains("\tat ") || text.contains("InternalError"), text);
    }

    @Test
    void shouldRefuseAFlippedByteInTheLastDocumentInEveryTool() throws Exception
    {
        final DataDir dir = build("flipped", 3_000, true);
        final List<long[]> documents = documents(cycleFile(dir));
        final long[] last = documents.get(documents.size() - 1);
        try (RandomAccessFile file = new RandomAccessFile(cycleFile(dir).toFile(), "rw"))
        {
            file.seek(last[0] + 4 + last[1] / 2);
            final int b = file.read();
            file.seek(last[0] + 4 + last[1] / 2);
            file.write(b ^ 1);
        }

        assertEquals(1, tool("verify", dir));
        assertTrue(cli.out.contains("FAIL") && cli.out.contains("checksum mismatch") &&
            cli.out.contains("VERIFY FAILED"), cli.out);
        assertNoStackTrace(cli.out + cli.err);

        assertEquals(1, tool("replay", dir));
        assertTrue(cli.err.contains("journal corrupted") && cli.err.contains("--accept-journal-loss"), cli.err);
        assertNoStackTrace(cli.err);

        assertEquals(1, cli.run("project", "--data", dir.root().toString(), "--once"));
        assertTrue(cli.err.contains("journal corrupted") && cli.err.contains("checksum mismatch"), cli.err);

        assertEquals(1, cli.run("journal", "--data", dir.root().toString()));
        assertTrue(cli.err.contains("listed up to outcome") && cli.err.contains("checksum mismatch"), cli.err);

        assertEquals(1, serve(dir));
        assertTrue(cli.err.contains("journal corrupted, not starting") && cli.err.contains("checksum mismatch") &&
            cli.err.contains("--accept-journal-loss"), cli.err);
        assertNoStackTrace(cli.err);
    }

    @Test
    void shouldRefuseATruncatedJournalFileWithAMessageNotACrash() throws Exception
    {
        final DataDir dir = build("truncated", 2_000, false);
        final List<long[]> documents = documents(cycleFile(dir));
        try (RandomAccessFile file = new RandomAccessFile(cycleFile(dir).toFile(), "rw"))
        {
            file.setLength(documents.get(documents.size() - 1)[0] + 100); // the last document is cut
        }

        assertEquals(1, tool("verify", dir));
        assertTrue(cli.out.contains("FAIL") && cli.out.contains("truncated"), cli.out);
        assertNoStackTrace(cli.out + cli.err);
        assertEquals(1, tool("replay", dir));
        assertTrue(cli.err.contains("truncated") && cli.err.contains(cycleFile(dir).getFileName().toString()), cli.err);
        assertEquals(1, cli.run("journal", "--data", dir.root().toString()));
        assertTrue(cli.err.contains("truncated"), cli.err);
        assertEquals(1, serve(dir));
        assertTrue(cli.err.contains("journal corrupted, not starting") && cli.err.contains("truncated"), cli.err);
        assertNoStackTrace(cli.err);
    }

    @Test
    void shouldRefuseASnapshotBeyondTheJournalsEnd() throws Exception
    {
        final DataDir dir = build("beyond", 1_000, false);
        final Path copy = temp.resolve("journal-copy");
        copyFiles(dir.journal(), copy);
        final LedgerRuntime more = LedgerRuntime.start(
            new LedgerRuntime.Settings(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ledger(ledgerConfig));
        more.engine().execute(new Command().op(Op.CREDIT).requestId(2, 1).userId(1).amount(5), 5, TimeUnit.SECONDS);
        more.snapshotter().snapshot().get(30, TimeUnit.SECONDS);
        more.close();
        copyFiles(copy, dir.journal()); // the journal restored from an older copy

        assertEquals(1, tool("verify", dir));
        assertTrue(cli.out.contains("FAIL") && cli.out.contains("once reached further"), cli.out);
        assertEquals(1, serve(dir));
        assertTrue(cli.err.contains("snapshot-") && cli.err.contains("once reached further"), cli.err);
    }

    @Test
    void shouldServeFromWhatIsReadableWhenTheLossIsAccepted() throws Exception
    {
        final DataDir dir = build("accepted", 2_000, false);
        loseTheLastThreeDocuments(dir);
        assertEquals(1, tool("replay", dir));
        assertTrue(cli.err.contains("zero header"), cli.err);

        final String log;
        try (ServeJvm serve = new ServeJvm(dir.root(), "--no-projector", "--dedupe-window", WINDOW,
            "--accept-journal-loss"))
        {
            serve.awaitServing();
            serve.terminate();
            log = serve.output();
        }
        assertTrue(log.contains("ledger serving"), log);
        assertTrue(log.contains("ACCEPTED JOURNAL LOSS") && log.contains("zero header") &&
            log.contains(dir.damaged().toString()), log);

        assertEquals(0, tool("verify", dir), cli.out + cli.err); // consistent again
        assertEquals(0, tool("replay", dir, "--json"), cli.err);
        assertTrue(cli.out.contains("\"tornTail\":null"), cli.out);
    }

    /**
     * Zeroes the headers of the journal's last three documents (three credits: build journals one a document).
     */
    private static void loseTheLastThreeDocuments(final DataDir dir) throws IOException
    {
        final List<long[]> documents = documents(cycleFile(dir));
        try (RandomAccessFile file = new RandomAccessFile(cycleFile(dir).toFile(), "rw"))
        {
            for (int i = documents.size() - 3; i < documents.size(); i++)
            {
                file.seek(documents.get(i)[0]);
                file.writeInt(0);
            }
        }
    }

    /**
     * The projection holds outcomes the journal then lost (an accepted loss), and the ledger went on past the old
     * checkpoint: {@code ledger project} used to go on from its checkpoint, skipping the new outcomes under the old
     * sequence numbers. It must refuse with a message and exit 1 until the tables are rebuilt.
     */
    @Test
    void shouldRefuseToProjectTablesHoldingOutcomesTheJournalLostUntilRebuilt() throws Exception
    {
        final DataDir dir = build("projected-lost", 1_000, false);
        assertEquals(0, cli.run("project", "--data", dir.root().toString(), "--once"), cli.err);
        assertTrue(cli.out.contains("PostgreSQL is at journal sequence 1,000"), cli.out);
        loseTheLastThreeDocuments(dir);
        final LedgerRuntime accepted = LedgerRuntime.start(
            new LedgerRuntime.Settings(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2, 0, true),
            new EngineConfig().ledger(ledgerConfig));
        assertEquals(997, accepted.recovery().lastSequence());
        for (int i = 1; i <= 10; i++)
        {
            accepted.engine().execute(new Command().op(Op.CREDIT).requestId(2, i).userId(7).amount(1_000), 5,
                TimeUnit.SECONDS);
        }
        accepted.close();

        assertEquals(1, cli.run("project", "--data", dir.root().toString(), "--once"));
        assertTrue(cli.err.contains("ledger project: the journal's outcome 1000 (") &&
            cli.err.contains("is not the one the projector checkpoint counted") &&
            cli.err.contains("ledger project --data DIR --rebuild"), cli.err);
        assertNoStackTrace(cli.out + cli.err);

        assertEquals(0, cli.run("project", "--data", dir.root().toString(), "--once", "--rebuild"), cli.err);
        assertTrue(cli.out.contains("projected 1,007 outcomes") && cli.out.contains("journal sequence 1,007"), cli.out);
        assertEquals(0, cli.run("project", "--data", dir.root().toString(), "--once"), cli.err);
        assertTrue(cli.out.contains("projected 0 outcomes"), cli.out);
    }

    /**
     * {@code serve --accept-journal-loss} with the projector on: tables holding outcomes the loss cut are rebuilt by
     * the projector itself (they used to be refused as past the journal's end, and then, once the journal grew past
     * them, continued with the new outcomes skipped).
     */
    @Test
    void shouldRebuildTheProjectionWhenServeAcceptsALossOfProjectedOutcomes() throws Exception
    {
        final DataDir dir = build("serve-rebuilds", 1_000, false);
        assertEquals(0, cli.run("project", "--data", dir.root().toString(), "--once"), cli.err);
        loseTheLastThreeDocuments(dir);

        final String rebuilt = "\"projector\":{\"checkpoint\":997,\"lagEvents\":0,";
        String health = "";
        final String output;
        try (ServeJvm serve = new ServeJvm(dir.root(), "--dedupe-window", WINDOW, "--accept-journal-loss"))
        {
            serve.awaitServing();
            final HttpClient http = HttpClient.newHttpClient();
            final HttpRequest request = HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + serve.metricsPort + "/health")).GET().build();
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (System.nanoTime() < deadline && !health.contains(rebuilt))
            {
                Thread.sleep(100);
                health = http.send(request, HttpResponse.BodyHandlers.ofString()).body();
            }
            serve.terminate();
            output = serve.output();
        }
        assertTrue(health.contains(rebuilt) && health.contains("\"lastError\":null,\"refused\":false"),
            health + "\n" + output);
        assertTrue(output.contains("ACCEPTED JOURNAL LOSS") && output.contains("past the end of the journal (997)") &&
            output.contains("emptying the tables to project the journal again from its start"), output);

        // they match the journal
        assertEquals(0, cli.run("project", "--data", dir.root().toString(), "--once"), cli.err);
        assertTrue(cli.out.contains("projected 0 outcomes") && cli.out.contains("journal sequence 997"), cli.out);
    }
}
