package io.quotaledger.engine;

import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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

    private Path mount;

    @BeforeEach
    void mountSmallFileSystem() throws Exception
    {
        assumeTrue(System.getProperty("os.name").startsWith("Linux"), "disk-full test needs Linux (tmpfs)");
        mount = Files.createDirectory(temp.resolve("fs"));
        String output;
        boolean mounted;
        try
        {
            final Process process = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + SIZE, "tmpfs",
                mount.toString()).redirectErrorStream(true).start();
            output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            mounted = process.waitFor(30, TimeUnit.SECONDS) && process.exitValue() == 0;
        }
        catch (final IOException ex)
        {
            output = ex.toString();
            mounted = false;
        }
        if (!mounted)
        {
            mount = null;
        }
        assumeTrue(mounted, "disk-full test skipped: cannot mount a " + SIZE + " tmpfs (needs root): " + output);
    }

    @AfterEach
    void unmount() throws Exception
    {
        if (mount != null)
        {
            final Process process = new ProcessBuilder("umount", "-l", mount.toString()).inheritIO().start();
            assertTrue(process.waitFor(30, TimeUnit.SECONDS) && process.exitValue() == 0, "umount " + mount);
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
        final DataDir dir = new DataDir(mount.resolve("data"));
        final Path filler = fill(mount.resolve("filler"), LEFT_FREE);

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
            final Path rest = fill(mount.resolve("rest"), 0);
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

    /**
     * Fills the file system with one file until about {@code leaveFree} bytes are left (0: until it is full).
     */
    private static Path fill(final Path file, final long leaveFree) throws IOException
    {
        final ByteBuffer block = ByteBuffer.allocateDirect(64 << 10);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE))
        {
            while (Files.getFileStore(file).getUsableSpace() > leaveFree + block.capacity())
            {
                channel.write(block.clear());
            }
            if (leaveFree == 0)
            {
                final ByteBuffer page = ByteBuffer.allocate(4096);
                while (true)
                {
                    try
                    {
                        channel.write(page.clear());
                    }
                    catch (final IOException ex)
                    {
                        break; // full
                    }
                }
            }
        }
        return file;
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
     * A {@link DiskFullChild} and what it printed.
     */
    private static final class Child
    {
        private final Process process;
        private final OutputStream stdin;
        private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        private final StringBuilder stderr = new StringBuilder();
        private final List<String> seen = new ArrayList<>();

        private Child(final Process process)
        {
            this.process = process;
            this.stdin = process.getOutputStream();
            drain(new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.US_ASCII)),
                line -> lines.add(line));
            drain(new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8)),
                line ->
                {
                    synchronized (stderr)
                    {
                        stderr.append(line).append('\n');
                    }
                });
        }

        static Child start(
            final DataDir dir, final Durability durability, final Threading threading, final String... args)
            throws IOException
        {
            final String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            final List<String> command = new ArrayList<>(List.of(java,
                "@" + ChildJvm.projectRoot().resolve("scripts/jvm.options"), "-Xmx512m",
                "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), DiskFullChild.class.getName(),
                dir.root().toString(), durability.name(), threading.name()));
            command.addAll(List.of(args));
            return new Child(new ProcessBuilder(command).start());
        }

        /**
         * Collects ACK lines into {@code acks} (index: "CODE duplicate") until a line starting with {@code prefix}.
         *
         * @return that line.
         */
        String await(final String prefix, final Map<Integer, String> acks) throws Exception
        {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline)
            {
                final String line = lines.poll(100, TimeUnit.MILLISECONDS);
                if (line == null)
                {
                    if (!process.isAlive() && lines.isEmpty())
                    {
                        fail("child exited with " + process.exitValue() + " before " + prefix + "\n" + report());
                    }
                    continue;
                }
                if (line.startsWith("ACK "))
                {
                    final String[] fields = line.split(" ");
                    acks.put(Integer.parseInt(fields[1]), fields[2] + " " + fields[3]);
                    continue;
                }
                seen.add(line);
                if (line.startsWith(prefix))
                {
                    return line;
                }
            }
            fail("child did not print " + prefix + " within 60 s\n" + report());
            return null;
        }

        void send(final String line) throws IOException
        {
            stdin.write((line + "\n").getBytes(StandardCharsets.US_ASCII));
            stdin.flush();
        }

        void kill() throws InterruptedException
        {
            process.destroyForcibly();
            assertTrue(process.waitFor(30, TimeUnit.SECONDS), "child survived SIGKILL");
        }

        /**
         * @return the child's own lines and its warnings, for a failure message.
         */
        String report()
        {
            final String warnings;
            synchronized (stderr)
            {
                warnings = stderr.toString().lines().filter(l -> l.contains("WARN") || l.contains("ERROR") ||
                    l.contains("Error") || l.contains("Exception")).limit(20).collect(Collectors.joining("\n  "));
            }
            return "child: " + String.join(" | ", seen) + "\n  " + warnings;
        }

        private static void drain(final BufferedReader reader, final Consumer<String> into)
        {
            final Thread thread = new Thread(() ->
            {
                try (reader)
                {
                    for (String line = reader.readLine(); line != null; line = reader.readLine())
                    {
                        into.accept(line);
                    }
                }
                catch (final IOException ex)
                {
                    // the child is gone
                }
            }, "disk-full-child-output");
            thread.setDaemon(true);
            thread.start();
        }
    }
}
