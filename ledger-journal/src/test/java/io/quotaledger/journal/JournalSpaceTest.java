package io.quotaledger.journal;

import net.openhft.chronicle.queue.RollCycles;
import org.agrona.concurrent.CachedEpochClock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The journal keeps the disk space behind its writes allocated ahead of them ({@link JournalSpace}): across rolls and
 * restarts, and on a full file system, where it runs on its reserve, reports that it is low on space, refuses a
 * document that would not fit rather than write it, and takes documents again once space is freed.
 */
class JournalSpaceTest
{
    private static final long DAY = 86_400_000L;
    private static final long START = 20_000 * DAY + 3_600_000L; // 2024-10-04 01:00 UTC
    private static final long RESERVE = 1L << 20;

    @TempDir
    Path temp;

    private final OutcomeSource source = new OutcomeSource(7);
    private final CachedEpochClock clock = new CachedEpochClock();

    @AfterEach
    void allocateNormally()
    {
        FileSpace.zerosOnlyForTesting(false);
    }

    private JournalAppender open(final DataDir dir, final long lastSequence) throws IOException
    {
        return JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, lastSequence, RESERVE, clock);
    }

    @Test
    void shouldStartEachCycleInAFileWhoseSpaceIsAllocatedAndGiveBackTheOldReserve() throws Exception
    {
        final DataDir dir = new DataDir(temp.resolve("data"));
        source.produceUntil(3_000);
        clock.update(START);
        try (JournalAppender appender = open(dir, 0))
        {
            assertTrue(appender.spaceAhead() >= RESERVE, "ahead " + appender.spaceAhead());
            source.append(appender, 1, 1_000);
            clock.update(START + DAY);
            source.append(appender, 1_001, 2_000);
            assertNull(appender.lowOnSpace());
            assertTrue(appender.spaceAhead() >= RESERVE, "ahead " + appender.spaceAhead());
        }
        final List<Path> files = journalFiles(dir);
        assertEquals(List.of("20241004F.cq4", "20241005F.cq4", "metadata.cq4t"), names(files), "no pre-created left");
        final long newFile = allocatedBytes(files.get(1));
        assertTrue(newFile >= RESERVE, "the new cycle's file has its reserve allocated: " + newFile);
        final long oldFile = allocatedBytes(files.get(0));
        assertTrue(oldFile < 1_000 * 160 + (200 << 10), "the done cycle gave its reserve back: " + oldFile);

        // reopened on the same day: the current file's reserve is taken up again, and the journal reads through
        clock.update(START + DAY + 1);
        try (JournalAppender appender = open(dir, 2_000))
        {
            assertTrue(appender.spaceAhead() >= RESERVE);
            source.append(appender, 2_001, 3_000);
        }
        assertOutcomesOneTo(dir, 3_000);
    }

    @ParameterizedTest
    @ValueSource(booleans = { false, true })
    void shouldAllocateWithoutChangingWhatIsAlreadyWritten(final boolean zerosOnly) throws Exception
    {
        FileSpace.zerosOnlyForTesting(zerosOnly);
        final Path file = temp.resolve("sparse");
        final byte[] head = "written before".getBytes(StandardCharsets.US_ASCII);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.wrap(head), 0);
            channel.write(ByteBuffer.wrap(head), 300_000); // a hole between the two
        }
        FileSpace.allocate(file, 0, 1 << 20);
        assertEquals(1 << 20, Files.size(file));
        final byte[] read = Files.readAllBytes(file);
        assertArrayEquals(head, Arrays.copyOfRange(read, 0, head.length));
        assertArrayEquals(head, Arrays.copyOfRange(read, 300_000, 300_000 + head.length));
        assertTrue(allocatedBytes(file) >= 1 << 20, "allocated: " + allocatedBytes(file));
    }

    @ParameterizedTest
    @ValueSource(booleans = { false, true })
    void shouldRunOnItsReserveWhenTheDiskFillsThenRefuseRatherThanWriteWhereNothingIsAllocated(
        final boolean zerosOnly) throws Exception
    {
        FileSpace.zerosOnlyForTesting(zerosOnly);
        source.produceUntil(60_000);
        clock.update(START);
        try (SmallFileSystem fs = SmallFileSystem.mount(temp, "8m"))
        {
            final DataDir dir = new DataDir(fs.root().resolve("data"));
            final Path filler = fs.fill("filler", 4L << 20);
            long last;
            try (JournalAppender appender = open(dir, 0))
            {
                last = appendUntilLowOnSpace(appender);
                assertTrue(appender.lowOnSpace().contains("No space left on device"), appender.lowOnSpace());
                assertTrue(appender.spaceAhead() > RESERVE / 2, "the reserve is still there: " + appender.spaceAhead());

                // nothing stops this writer, so it goes on into its reserve until the next document would not fit
                final long[] written = { last };
                final UncheckedIOException refused = assertThrows(UncheckedIOException.class, () ->
                {
                    while (written[0] < 59_000)
                    {
                        source.append(appender, written[0] + 1, written[0] + 100);
                        written[0] += 100;
                    }
                });
                assertTrue(refused.getMessage().contains("journal out of space"), refused.getMessage());
                assertEquals(written[0], appender.lastSequence(), "flushed up to the refused document");
                last = written[0];
            }
            assertOutcomesOneTo(dir, last);
            Files.delete(filler);
        }
    }

    @Test
    void shouldTakeDocumentsAgainOnceSpaceIsFreedAndRollOnlyWhenTheNewFileHasItsSpace() throws Exception
    {
        source.produceUntil(60_000);
        clock.update(START);
        try (SmallFileSystem fs = SmallFileSystem.mount(temp, "8m"))
        {
            final DataDir dir = new DataDir(fs.root().resolve("data"));
            final Path filler = fs.fill("filler", 4L << 20);
            long last;
            try (JournalAppender appender = open(dir, 0))
            {
                last = appendUntilLowOnSpace(appender);
                // the next day begins, but its file cannot be had: the journal stays in today's file, still low
                final Path rest = fs.fill("rest", 0);
                clock.update(START + DAY);
                Thread.sleep(TimeUnit.NANOSECONDS.toMillis(JournalSpace.RETRY_NANOS) + 50);
                source.append(appender, last + 1, last + 100);
                last += 100;
                assertNotNull(appender.lowOnSpace());
                assertTrue(appender.lowOnSpace().contains("next journal file"), appender.lowOnSpace());
                assertEquals(List.of("20241004F.cq4", "metadata.cq4t"), names(journalFiles(dir)));

                Files.delete(rest);
                Files.delete(filler);
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (appender.lowOnSpace() != null && System.nanoTime() < deadline)
                {
                    Thread.sleep(50);
                    appender.flush(); // where the journal stage checks again
                }
                assertNull(appender.lowOnSpace(), "space is back");
                assertTrue(appender.spaceAhead() >= RESERVE);
                source.append(appender, last + 1, last + 100);
                last += 100;
            }
            assertEquals(List.of("20241004F.cq4", "20241005F.cq4", "metadata.cq4t"), names(journalFiles(dir)));
            assertOutcomesOneTo(dir, last);
        }
    }

    /**
     * Appends outcomes from 1 on, 100 a document, until the journal reports that it is low on space.
     *
     * @return the last sequence appended.
     */
    private long appendUntilLowOnSpace(final JournalAppender appender)
    {
        long last = 0;
        while (appender.lowOnSpace() == null)
        {
            source.append(appender, last + 1, last + 100);
            last += 100;
            assertTrue(last < 50_000, "never low on space");
        }
        return last;
    }

    private void assertOutcomesOneTo(final DataDir dir, final long last)
    {
        final long[] expected = { 1 };
        try (JournalReader reader = JournalReader.open(dir))
        {
            final JournalReader.ReadResult read = reader.read(0, (sequence, outcome) ->
            {
                assertEquals(expected[0]++, sequence);
                assertEquals(source.timestamp(sequence), outcome.timestamp());
                return true;
            });
            assertEquals(last, read.lastSequence());
            assertNull(read.tornTail());
        }
    }

    private static List<Path> journalFiles(final DataDir dir) throws IOException
    {
        try (Stream<Path> files = Files.list(dir.journal()))
        {
            return files.sorted().toList();
        }
    }

    private static List<String> names(final List<Path> files)
    {
        final List<String> names = new ArrayList<>();
        files.forEach(file -> names.add(file.getFileName().toString()));
        return names;
    }

    /**
     * @return the bytes of disk a file occupies (stat(1): blocks times block size), to check allocation.
     */
    private static long allocatedBytes(final Path file) throws Exception
    {
        final Process stat = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).start();
        final String output = new String(stat.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
        assumeTrue(stat.waitFor() == 0 && output.matches("\\d+ \\d+"), "stat(1) unavailable: " + output);
        final String[] fields = output.split(" ");
        return Long.parseLong(fields[0]) * Long.parseLong(fields[1]);
    }
}
