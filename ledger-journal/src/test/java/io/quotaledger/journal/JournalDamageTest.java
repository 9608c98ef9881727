package io.quotaledger.journal;

import net.openhft.chronicle.core.time.SetTimeProvider;
import net.openhft.chronicle.queue.ExcerptAppender;
import net.openhft.chronicle.queue.RollCycles;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.wire.DocumentContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Damage to the newest journal data, done to the cycle file as a disk, a crash or an operator would: only a write
 * that never completed is a torn tail; anything that may have lost acknowledged outcomes stops recovery with a message
 * naming the file and what was lost, and is accepted only on the operator's word, after which the journal is
 * consistent again and later restarts need no word.
 */
class JournalDamageTest
{
    private static final long[] FLUSHES = { 100, 500, 1_000, 1_500, 2_000 };

    @TempDir
    Path temp;

    private final OutcomeSource source = new OutcomeSource(11);
    private DataDir dir;
    private long last;

    /**
     * A document in a cycle file: where its Chronicle header is and how long its body.
     */
    private record Document(long header, int length)
    {
    }

    /**
     * A journal of six documents: 1-100, 101-500, 501-1000, 1001-1500, 1501-2000, 2001-last.
     */
    private void journal() throws Exception
    {
        dir = new DataDir(temp.resolve("data"));
        last = source.produceUntil(2_400);
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, 0))
        {
            long from = 1;
            for (final long to : FLUSHES)
            {
                source.append(appender, from, to);
                from = to + 1;
            }
            source.append(appender, from, last);
        }
        assertEquals(6, documents().size());
    }

    private Path cycleFile() throws Exception
    {
        final List<Path> files = JournalFiles.cycleFiles(dir);
        return files.get(files.size() - 1);
    }

    private List<Document> documents() throws Exception
    {
        final List<Document> documents = new ArrayList<>();
        JournalFiles.walk(cycleFile(), (channel, position, length) ->
            documents.add(new Document(position - 4, length)));
        return documents;
    }

    private Document lastDocument() throws Exception
    {
        final List<Document> documents = documents();
        return documents.get(documents.size() - 1);
    }

    private void write(final long position, final byte[] bytes) throws Exception
    {
        try (RandomAccessFile file = new RandomAccessFile(cycleFile().toFile(), "rw"))
        {
            file.seek(position);
            file.write(bytes);
        }
    }

    private void truncate(final long size) throws Exception
    {
        try (RandomAccessFile file = new RandomAccessFile(cycleFile().toFile(), "rw"))
        {
            file.setLength(size);
        }
    }

    private String refused() throws Exception
    {
        final JournalCorruptedException ex = assertThrows(JournalCorruptedException.class,
            () -> Recovery.recover(dir, source::newLedger));
        return ex.getMessage();
    }

    private Recovery.Result accept() throws Exception
    {
        return Recovery.recover(dir, source::newLedger, true, Recovery.Limit.END, Recovery.Progress.NONE, true);
    }

    /**
     * Recovers on the operator's word, which must end at {@code lastSequence} with the ledger as it was after it.
     */
    private Recovery.Result acceptTo(final long lastSequence) throws Exception
    {
        final Recovery.Result accepted = accept();
        assertEquals(lastSequence, accepted.lastSequence());
        assertEquals(source.checksumAfter(lastSequence), accepted.ledger().checksum());
        return accepted;
    }

    /**
     * Once a loss is accepted, the next start needs no word, even before anything new was written; the ledger goes
     * on from where recovery ended.
     */
    private void assertGoesOnFrom(final long recovered) throws Exception
    {
        final Recovery.Result restarted = Recovery.recover(dir, source::newLedger);
        assertEquals(recovered, restarted.lastSequence());
        assertTrue(restarted.acceptedLoss().isEmpty());
        assertNull(restarted.tornTail(), "what was accepted is gone from the journal, not passed over again");
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY,
            recovered))
        {
            source.append(appender, recovered + 1, recovered + 100);
        }
        final Recovery.Result again = Recovery.recover(dir, source::newLedger);
        assertEquals(recovered + 100, again.lastSequence());
        assertEquals(source.checksumAfter(recovered + 100), again.ledger().checksum());
        assertTrue(again.acceptedLoss().isEmpty());
    }

    private static void assertContains(final String text, final String... parts)
    {
        for (final String part : parts)
        {
            assertTrue(text.contains(part), "'" + part + "' in: " + text);
        }
    }

    @Test
    void shouldRefuseAFlippedByteInTheLastCompleteDocumentUnlessTheLossIsAccepted() throws Exception
    {
        journal();
        final Document document = lastDocument();
        try (RandomAccessFile file = new RandomAccessFile(cycleFile().toFile(), "rw"))
        {
            final long at = document.header() + 4 + document.length() / 2;
            file.seek(at);
            final int b = file.read();
            file.seek(at);
            file.write(b ^ 0x10);
        }

        final String why = refused();
        assertContains(why, cycleFile().getFileName().toString(), "index", "checksum mismatch",
            "outcomes 2001 to " + last, "follows outcome 2000", "--accept-journal-loss");
        try (JournalReader reader = JournalReader.open(dir))
        {
            assertEquals(2_000, reader.end().lastSequence(), "what is readable can still be listed");
            assertEquals(1, reader.end().badDocuments());
        }

        final Recovery.Result accepted = acceptTo(2_000);
        assertEquals(1, accepted.acceptedLoss().size());
        assertContains(accepted.acceptedLoss().get(0), "checksum mismatch",
            "now holds its first 5 document(s), to outcome 2000",
            dir.damaged().resolve(cycleFile().getFileName()).toString());
        assertGoesOnFrom(2_000);
    }

    @Test
    void shouldRefuseZeroedHeadersOnTheLastDocumentsUnlessTheLossIsAccepted() throws Exception
    {
        journal();
        final List<Document> documents = documents();
        for (int i = documents.size() - 3; i < documents.size(); i++)
        {
            write(documents.get(i).header(), new byte[4]);
        }
        final long size = Files.size(cycleFile());

        final String why = refused();
        assertContains(why, cycleFile().getFileName().toString(), "zero header", "are lost",
            "the last outcome before the damage is 1000", "--accept-journal-loss");
        assertThrows(JournalCorruptedException.class, () -> JournalReader.open(dir).close(),
            "no reader sees the journal end early");

        final Recovery.Result accepted = acceptTo(1_000);
        assertEquals(1, accepted.acceptedLoss().size());
        final Path kept = dir.damaged().resolve(cycleFile().getFileName());
        assertEquals(size, Files.size(kept), "the damaged file is kept as it was");
        assertGoesOnFrom(1_000);
    }

    @Test
    void shouldRefuseAJournalFileCutInsideItsLastDocumentUnlessTheLossIsAccepted() throws Exception
    {
        journal();
        truncate(lastDocument().header() + 1_000);

        final String why = refused(); // not an InternalError from a fault on the mapped file
        assertContains(why, cycleFile().getFileName().toString(), "truncated", "inside the complete document",
            "the last outcome before the damage is 2000", "--accept-journal-loss");
        assertThrows(JournalCorruptedException.class, () -> JournalReader.open(dir).close());

        acceptTo(2_000);
        assertGoesOnFrom(2_000);
    }

    @Test
    void shouldRefuseAJournalFileCutInTheMiddleUnlessTheLossIsAccepted() throws Exception
    {
        journal();
        truncate(documents().get(2).header() + 500);

        final String why = refused();
        assertContains(why, "truncated", "the last outcome before the damage is 500");

        acceptTo(500);
        assertGoesOnFrom(500);
    }

    @Test
    void shouldSkipAnIncompleteLastDocumentAsATornTailEvenWhenTheFileIsCutInsideIt() throws Exception
    {
        journal();
        final Document document = lastDocument();
        long end = document.header() + 4 + document.length();
        end += (-end) & 3;
        // a crash mid-write: Chronicle's header still says not complete, half the body is there
        final byte[] torn = new byte[4 + 2_000];
        torn[3] = (byte)0x80;
        System.arraycopy(source.document(last + 1, 50), 0, torn, 4, 2_000);
        write(end, torn);
        truncate(end + 1_000);

        final Recovery.Result recovered = Recovery.recover(dir, source::newLedger);
        assertEquals(last, recovered.lastSequence());
        assertEquals(source.checksumAfter(last), recovered.ledger().checksum());
        assertNotNull(recovered.tornTail());
        assertContains(recovered.tornTail(), "incomplete document at byte " + end);
        assertTrue(recovered.acceptedLoss().isEmpty());

        source.produceUntil((int)last + 200);
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, RollCycles.FAST_DAILY, last))
        {
            source.append(appender, last + 1, last + 100); // Chronicle's next writer overwrites the incomplete one
        }
        final Recovery.Result again = Recovery.recover(dir, source::newLedger);
        assertEquals(last + 100, again.lastSequence());
        assertEquals(source.checksumAfter(last + 100), again.ledger().checksum());
        assertNull(again.tornTail());
    }

    @Test
    void shouldRefuseAFileCutRightAfterItsLastDocumentThoughNothingIsMissing() throws Exception
    {
        journal();
        final Document document = lastDocument();
        truncate(document.header() + 4 + document.length());

        assertContains(refused(), "right after its last document", "nothing in it is missing");
        acceptTo(last); // rewriting it lost nothing
    }

    /**
     * Two daily cycle files: outcomes 1-100 and 101-200 in the first, 201-300 in the second (damaged if asked).
     */
    private List<Path> twoCycles(final boolean badLast) throws Exception
    {
        dir = new DataDir(temp.resolve("cycles"));
        source.produceUntil(400);
        final SetTimeProvider time = new SetTimeProvider(Instant.parse("2026-11-22T10:00:00Z"));
        try (SingleChronicleQueue queue = Journals.builder(dir, RollCycles.FAST_DAILY).timeProvider(time).build();
            ExcerptAppender appender = queue.createAppender())
        {
            for (final long first : new long[] { 1, 101, 201 })
            {
                if (first == 201)
                {
                    time.currentTimeMillis(time.currentTimeMillis() + 86_400_000L); // the next day's cycle file
                }
                try (DocumentContext document = appender.writingDocument())
                {
                    document.wire().bytes().write(first == 201 && badLast ?
                        source.damagedDocument(first, 100) : source.document(first, 100));
                }
            }
        }
        final List<Path> files = JournalFiles.cycleFiles(dir);
        assertEquals(2, files.size());
        return files;
    }

    @Test
    void shouldCutBackPastANewestFileHoldingNothingGood() throws Exception
    {
        final List<Path> files = twoCycles(true);
        assertContains(refused(), files.get(1).getFileName().toString(), "outcomes 201 to 300 by its header");

        acceptTo(200);
        assertFalse(Files.exists(files.get(1)));
        assertTrue(Files.exists(dir.damaged().resolve(files.get(1).getFileName())));
        assertGoesOnFrom(200);
    }

    @Test
    void shouldNotAcceptALossInAJournalFileThatIsNotTheNewest() throws Exception
    {
        final List<Path> files = twoCycles(false);
        final List<Document> documents = new ArrayList<>();
        JournalFiles.walk(files.get(0), (channel, position, length) ->
            documents.add(new Document(position - 4, length)));
        try (RandomAccessFile file = new RandomAccessFile(files.get(0).toFile(), "rw"))
        {
            file.setLength(documents.get(1).header() + 100);
        }

        final String why = refused();
        assertContains(why, files.get(0).getFileName().toString(), "truncated", "restore", "from a copy");
        assertFalse(why.contains("--accept-journal-loss"), why);
        final JournalCorruptedException ex = assertThrows(JournalCorruptedException.class, this::accept);
        assertContains(ex.getMessage(), "cannot be accepted");
        assertFalse(Files.exists(dir.damaged().resolve(files.get(0).getFileName())), "nothing was changed");
    }
}
