package io.quotaledger.engine;

import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.SmallFileSystem;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A full disk must never cost an acknowledged change. The data directory lives on a 24 MiB tmpfs filled to a few MiB
 * free; a ledger in a child JVM ({@link DiskFullChild}) pipelines deducts until they are refused, a snapshot is tried
 * on the full disk, space is freed (the ledger takes changes again), the child is killed, and a new one recovers from
 * the journal and is sent every deduct that was answered OK: each must come back a duplicate, none applied afresh.
 *
 * <p>Needs to mount the tmpfs (root on Linux); skipped with a message otherwise.
 */
class DiskFullTest
{
    private static final String SIZE = "24m";
    private static final long LEFT_FREE = 4L << 20;

    @TempDir
    Path temp;

    private SmallFileSystem fs;

    @BeforeEach
    void mountSmallFileSystem() throws Exception
    {
        fs = SmallFileSystem.mount(temp, SIZE);
    }

    @AfterEach
    void unmount() throws Exception
    {
        if (fs != null)
        {
            fs.close();
        }
    }

    static Stream<Arguments> modes()
    {
        return Stream.of(Durability.values())
            .flatMap(durability -> Stream.of(Threading.values()).map(threading -> Arguments.of(durability, threading)));
    }

    @ParameterizedTest
    @MethodSource("modes")
    void shouldLoseNoAcknowledgedDeductWhenTheDiskFills(final Durability durability, final Threading threading)
        throws Exception
    {
        final DataDir dir = new DataDir(fs.root().resolve("data"));
        final Path filler = fs.fill("filler", LEFT_FREE);

        final Map<Integer, String> acked = new LinkedHashMap<>();
        final Child filling = Child.start(dir, durability, threading, "fill");
        final String full;
        final String query;
        final String snapshot;
        final String resumed;
        try
        {
            full = filling.await("FULL", acked);
            query = filling.await("QUERY", acked);
            // the last bytes go too: a snapshot must fail cleanly, leaving nothing that looks like one
            final Path rest = fs.fill("rest", 0);
            filling.send("SNAPSHOT");
            snapshot = filling.await("SNAPSHOT_", acked);
            Files.delete(rest);
            Files.delete(filler);
            filling.send("FREED");
            resumed = filling.await("RESUME", acked);
            filling.await("DONE", acked);
        }
        finally
        {
            filling.kill();
        }
        final String fillReport = filling.report();
        assertTrue(Integer.parseInt(full.split(" ")[2]) >= 2000, "the disk never filled: " + full);

        final List<Integer> ok = acked.entrySet().stream().filter(e -> e.getValue().startsWith("OK "))
            .map(Map.Entry::getKey).toList();
        final Path okFile = temp.resolve("ok.txt");
        Files.writeString(okFile, ok.stream().map(String::valueOf).collect(Collectors.joining("\n")));

        final Map<Integer, String> resent = new LinkedHashMap<>();
        final Child resending = Child.start(dir, durability, threading, "resend", okFile.toString());
        try
        {
            resending.await("DONE", resent);
        }
        finally
        {
            resending.kill();
        }
        final List<Integer> fresh = new ArrayList<>();
        for (final int index : ok)
        {
            final String again = resent.get(index);
            assertNotNull(again, "no answer to the resent deduct " + index);
            if (!"OK 1".equals(again))
            {
                fresh.add(index);
            }
        }
        assertTrue(fresh.isEmpty(), fresh.size() + " of " + ok.size() + " deducts answered OK were lost: resent, " +
            "they were applied afresh (first: " + fresh.subList(0, Math.min(5, fresh.size())) + ")\n" + fillReport);
        assertTrue(snapshot.startsWith("SNAPSHOT_FAILED"), "a snapshot on a full disk: " + snapshot);
        assertNoSnapshotFiles(dir);
        assertTrue(full.contains("No space left on device"), "the journal says why: " + full);
        assertEquals("QUERY OK", query, "queries are answered while changes are refused");
        assertTrue(resumed.startsWith("RESUME ok"), resumed + "\n" + fillReport);
        System.out.printf("%s %s: %,d deducts answered OK, all recovered; %s; %s%n", durability, threading.label(),
            ok.size(), full,
            snapshot);
    }

    private static void assertNoSnapshotFiles(final DataDir dir) throws IOException
    {
        if (Files.isDirectory(dir.snapshots()))
        {
            try (Stream<Path> files = Files.list(dir.snapshots()))
            {
                final List<Path> left = files.toList();
                assertEquals(List.of(), left, "a failed snapshot left files behind");
            }
        }
    }

    /**
     * A {@link DiskFullChild} in its own JVM.
     */
    private static final class Child
    {
        private final ChildJvm jvm;

        private Child(final ChildJvm jvm)
        {
            this.jvm = jvm;
        }

        static Child start(
            final DataDir dir, final Durability durability, final Threading threading, final String... args)
            throws IOException
        {
            final List<String> childArgs = new ArrayList<>(List.of(dir.root().toString(), durability.name(), threading.name()));
            childArgs.addAll(List.of(args));
            return new Child(ChildJvm.start(List.of("-Xmx512m", "-XX:TieredStopAtLevel=1"), DiskFullChild.class,
                childArgs));
        }

        /**
         * Waits for a line starting with {@code prefix}, and collects the ACK lines printed so far into {@code acks}
         * (index: "CODE duplicate").
         *
         * @return that line.
         */
        String await(final String prefix, final Map<Integer, String> acks) throws Exception
        {
            final String line = jvm.awaitLine(prefix, 60_000);
            for (final String ack : jvm.lines())
            {
                if (ack.startsWith("ACK "))
                {
                    final String[] fields = ack.split(" ");
                    acks.put(Integer.parseInt(fields[1]), fields[2] + " " + fields[3]);
                }
            }
            return line;
        }

        void send(final String line) throws IOException
        {
            jvm.stdin().write((line + "\n").getBytes(StandardCharsets.US_ASCII));
            jvm.stdin().flush();
        }

        void kill() throws InterruptedException
        {
            jvm.kill();
        }

        /**
         * @return the child's own lines and its warnings, for a failure message.
         */
        String report()
        {
            final String seen = jvm.lines().stream().filter(l -> !l.startsWith("ACK "))
                .collect(Collectors.joining(" | "));
            final String warnings = jvm.stderr().lines().filter(l -> l.contains("WARN") || l.contains("ERROR") ||
                l.contains("Error") || l.contains("Exception")).limit(20).collect(Collectors.joining("\n  "));
            return "child: " + seen + "\n  " + warnings;
        }
    }
}
