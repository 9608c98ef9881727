package io.quotaledger.journal;

import net.openhft.chronicle.core.time.SetTimeProvider;
import net.openhft.chronicle.queue.ExcerptAppender;
import net.openhft.chronicle.queue.RollCycle;
import net.openhft.chronicle.queue.RollCycles;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueueStore;
import net.openhft.chronicle.wire.DocumentContext;
import net.openhft.chronicle.wire.Wires;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * The journal's cycle files read as plain files, before Chronicle Queue maps them: Chronicle reads a file through a
 * memory mapping of its full preallocated size, so a file cut short makes it fault (SIGBUS, an {@code InternalError})
 * and zeroed document headers make it stop early without a word.
 *
 * <p>A cycle file is a chain of documents, each behind a 4-byte header (length, a metadata flag and a not-complete
 * flag: {@link Wires}), ended by a zero header (nothing written yet) or an end-of-file marker once the queue rolled.
 * A document whose header still says not complete is a write cut short by a crash: nothing was acknowledged from it,
 * and Chronicle's readers stop before it and its next writer overwrites it. That is the only torn tail. The file's own
 * header records where the last complete document starts (its write position); if the chain ends before that
 * document, or the file ends before the chain does, complete documents were lost.
 */
final class JournalFiles
{
    private static final String SUFFIX = ".cq4";
    private static final int HEADER = Wires.SPB_HEADER_SIZE;
    private static final int WINDOW = 16 * 1024;

    /**
     * How a cycle file's chain of documents ends.
     */
    enum End
    {
        /** A zero header: the end of what was written. */
        END_OF_DATA,
        /** The end-of-file marker of a cycle the queue rolled past. */
        END_OF_CYCLE,
        /** A header still marked not complete: a write cut short. */
        INCOMPLETE,
        /** The file ends where the next header should be. */
        TRUNCATED,
        /** The file ends inside a complete document. */
        CUT
    }

    /**
     * Receives each complete data document of a walk.
     */
    @FunctionalInterface
    interface DocumentVisitor
    {
        void onDocument(FileChannel channel, long position, int length) throws IOException;
    }

    /**
     * What a walk of one file found.
     *
     * @param size           the file's length.
     * @param end            where the chain of documents ends (the header that ends it, or the document cut short).
     * @param how            what ends it.
     * @param dataDocuments  complete data documents before the end.
     * @param lastDocument   where the last of them starts (after its header), -1 when there is none.
     */
    record Walk(long size, long end, End how, long dataDocuments, long lastDocument)
    {
    }

    /**
     * A cycle file that lost complete documents, or that Chronicle cannot read safely.
     *
     * @param file    the cycle file.
     * @param newest  true for the newest cycle file: only there can a loss be accepted.
     * @param problem what is wrong, for the operator.
     */
    record Damage(Path file, boolean newest, String problem)
    {
    }

    /**
     * The result of a check.
     *
     * @param damage   damaged files, oldest first; empty when every file checks out.
     * @param tornTail an incomplete last document (a write cut short by a crash, which lost nothing acknowledged), or
     *                 null.
     */
    record Check(List<Damage> damage, String tornTail)
    {
    }

    private JournalFiles()
    {
    }

    /**
     * Checks every cycle file of a data directory's journal without memory-mapping past a file's end. Safe while the
     * ledger appends (each write position is read before the file is walked, and only grows).
     */
    static Check check(final DataDir dir) throws IOException
    {
        final List<Path> files = cycleFiles(dir);
        if (files.isEmpty())
        {
            return new Check(List.of(), null);
        }
        final List<Damage> damage = new ArrayList<>();
        final Path newest = files.get(files.size() - 1);
        for (final Path file : files)
        {
            final String problem = headerProblem(file);
            if (problem != null)
            {
                damage.add(new Damage(file, file.equals(newest), problem));
            }
        }
        if (!damage.isEmpty())
        {
            return new Check(List.copyOf(damage), null); // opening the queue could read those headers: stop here
        }
        try (SingleChronicleQueue queue = openForReading(dir))
        {
            return check(queue, newest);
        }
    }

    /**
     * @return the refusal for damaged files: what is wrong with the first, and what the operator can do.
     */
    static JournalCorruptedException refusal(final List<Damage> damage)
    {
        final Damage first = damage.get(0);
        final String more = damage.size() > 1 ? " (and " + (damage.size() - 1) + " more damaged file(s))" : "";
        return new JournalCorruptedException(first.problem() + more + ": " + (first.newest() ?
            JournalCorruptedException.REMEDY : "restore " + first.file().getFileName() + " from a copy (the files " +
            "after it would not continue what is left of it, so the loss cannot be accepted)"));
    }

    /**
     * Checks the cycle files an open queue lists. The caller has checked each file's own header.
     */
    static Check check(final SingleChronicleQueue queue, final Path newest) throws IOException
    {
        final List<Damage> damage = new ArrayList<>();
        String torn = null;
        if (queue.firstCycle() > queue.lastCycle())
        {
            return new Check(List.of(), null); // the queue lists no cycle at all
        }
        for (final Long listed : queue.listCyclesBetween(queue.firstCycle(), queue.lastCycle()))
        {
            final int cycle = listed.intValue();
            final SingleChronicleQueueStore store = queue.storeForCycle(cycle, queue.epoch(), false, null);
            if (store == null)
            {
                continue; // listed but gone (archived meanwhile): the readers' gap check speaks for it
            }
            final Path file;
            final long writePosition;
            try
            {
                file = store.file().toPath();
                writePosition = store.writePosition(); // before the walk: a live writer only moves it forward
            }
            finally
            {
                queue.closeStore(store);
            }
            final Walk walk = walk(file, null);
            final String problem = problem(walk, writePosition);
            if (problem != null)
            {
                final long lastOutcome = lastOutcome(file, walk);
                damage.add(new Damage(file, file.equals(newest), file.getFileName() + ": " + problem +
                    (lastOutcome < 0 ? "" :
                    "; the last outcome before the damage is " + lastOutcome)));
            }
            else if (walk.how() == End.INCOMPLETE)
            {
                torn = "incomplete document at byte " + walk.end() + " of " + file.getFileName() +
                    " (a write cut short by a crash)";
            }
        }
        return new Check(List.copyOf(damage), torn);
    }

    /**
     * @return the journal's cycle files, oldest first (their names sort by time).
     */
    static List<Path> cycleFiles(final DataDir dir) throws IOException
    {
        if (!Files.isDirectory(dir.journal()))
        {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir.journal()))
        {
            return files.filter(f -> f.getFileName().toString().endsWith(SUFFIX))
                .sorted(Comparator.comparing(f -> f.getFileName().toString())).toList();
        }
    }

    /**
     * Accepts a loss at the journal's end: the newest cycle file keeps its complete data documents up to the last one
     * that checks out, before any damage, and loses the rest. It is rewritten through Chronicle in a scratch queue
     * (so that its index and write position agree with what it holds) and moved over the damaged file, which is kept
     * under {@link DataDir#damaged()} first; a file with nothing worth keeping is moved there. No queue may be open.
     *
     * @param why what was lost, for the report.
     * @return what was done, for the log.
     */
    static String cutBack(final DataDir dir, final String why) throws IOException
    {
        final List<Path> files = cycleFiles(dir);
        final Path file = files.get(files.size() - 1);
        final RollCycle rollCycle;
        int cycle = -1;
        try (SingleChronicleQueue queue = openForReading(dir))
        {
            rollCycle = queue.rollCycle();
            if (headerProblem(file) == null)
            {
                cycle = cycleOf(queue, file);
            }
        }
        final CRC32C crc = new CRC32C();
        final byte[][] bytes = { new byte[JournalFormat.documentLength(JournalAppender.MAX_OUTCOMES_PER_DOCUMENT)] };
        final UnsafeBuffer buffer = new UnsafeBuffer(bytes[0]);
        final long[] documents = { 0, 0, 0 }; // seen, to keep, the last outcome kept
        final DocumentVisitor read = (channel, position, length) ->
        {
            if (bytes[0].length < length)
            {
                bytes[0] = new byte[length];
                buffer.wrap(bytes[0]);
            }
            readFully(channel, ByteBuffer.wrap(bytes[0], 0, length), position);
            if (JournalFormat.check(buffer, bytes[0], length, crc) == null)
            {
                documents[1] = documents[0] + 1;
                documents[2] = JournalFormat.claimedLast(buffer);
            }
            documents[0]++;
        };
        if (cycle >= 0)
        {
            walk(file, read);
        }
        final long keep = documents[1];
        final Path kept = keepAside(dir, file, keep > 0);
        if (keep == 0)
        {
            Journals.refreshListing(dir);
            return why + ": nothing before it in " + file.getFileName() + " was readable; the file is in " + kept;
        }
        final DataDir scratch = new DataDir(dir.root().resolve("journal-rewrite"));
        deleteTree(scratch.root());
        try (SingleChronicleQueue queue = Journals.builder(scratch, rollCycle)
            .timeProvider(new SetTimeProvider(Instant.ofEpochMilli(cycle * (long)rollCycle.lengthInMillis())))
            .build();
            ExcerptAppender appender = queue.createAppender())
        {
            final long[] copied = { 0 };
            walk(file, (channel, position, length) ->
            {
                if (copied[0]++ < keep)
                {
                    readFully(channel, ByteBuffer.wrap(bytes[0], 0, length), position);
                    try (DocumentContext context = appender.writingDocument())
                    {
                        context.wire().bytes().write(bytes[0], 0, length);
                    }
                }
            });
        }
        final Path rewritten = scratch.journal().resolve(file.getFileName());
        if (!Files.exists(rewritten))
        {
            throw new IOException("rewriting " + file.getFileName() + " made no file of that name in " +
                scratch.journal());
        }
        try (FileChannel channel = FileChannel.open(rewritten, StandardOpenOption.WRITE))
        {
            channel.force(true);
        }
        Files.move(rewritten, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(scratch.root());
        return why + ": " + file.getFileName() + " now holds its first " + keep + " document(s), to outcome " +
            documents[2] + ", and what followed is lost; the file as it was is in " + kept;
    }

    /**
     * @return the cycle of a file the queue lists, -1 when it lists none with that file.
     */
    private static int cycleOf(final SingleChronicleQueue queue, final Path file)
    {
        if (queue.firstCycle() > queue.lastCycle())
        {
            return -1;
        }
        for (final Long listed : queue.listCyclesBetween(queue.firstCycle(), queue.lastCycle()).descendingSet())
        {
            final SingleChronicleQueueStore store = queue.storeForCycle(listed.intValue(), queue.epoch(), false, null);
            if (store != null)
            {
                try
                {
                    if (store.file().toPath().equals(file))
                    {
                        return listed.intValue();
                    }
                }
                finally
                {
                    queue.closeStore(store);
                }
            }
        }
        return -1;
    }

    /**
     * Keeps a damaged file under {@link DataDir#damaged()}, never overwriting an earlier one.
     *
     * @param copy true to leave the file where it is (a hard link where possible, else a copy), false to move it.
     * @return where it was kept.
     */
    static Path keepAside(final DataDir dir, final Path file, final boolean copy) throws IOException
    {
        Files.createDirectories(dir.damaged());
        final String name = file.getFileName().toString();
        for (int attempt = 0; ; attempt++)
        {
            final Path target = dir.damaged().resolve(attempt == 0 ? name : name + "." + attempt);
            if (Files.exists(target))
            {
                continue;
            }
            try
            {
                if (!copy)
                {
                    Files.move(file, target);
                }
                else
                {
                    link(file, target);
                }
                return target;
            }
            catch (final FileAlreadyExistsException ex)
            {
                // taken meanwhile: try the next name
            }
        }
    }

    /**
     * Opens the journal's queue for reading; an absent queue is created empty (no cycle file is made until an append).
     */
    static SingleChronicleQueue openForReading(final DataDir dir)
    {
        final boolean exists = Files.exists(dir.journal().resolve("metadata.cq4t"));
        return Journals.builder(dir, RollCycles.FAST_DAILY).readOnly(exists).build();
    }

    private static void link(final Path file, final Path target) throws IOException
    {
        try
        {
            Files.createLink(target, file);
        }
        catch (final FileAlreadyExistsException ex)
        {
            throw ex;
        }
        catch (final UnsupportedOperationException | IOException ex)
        {
            Files.copy(file, target); // no hard links here: a copy then
        }
    }

    /**
     * @return why Chronicle could not read a file's own header (cut short before its end), or null.
     */
    private static String headerProblem(final Path file) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ))
        {
            final long size = channel.size();
            if (size < HEADER)
            {
                return file.getFileName() + ": truncated to " + size + " bytes, less than its own header";
            }
            final int header = readHeader(channel, 0);
            if (Wires.isReady(header) && header != 0 && HEADER + Wires.lengthOf(header) > size)
            {
                return file.getFileName() + ": truncated to " + size + " bytes, inside its own header";
            }
            return null;
        }
    }

    /**
     * @return what was lost or is unreadable in a walked file, or null when it checks out.
     */
    private static String problem(final Walk walk, final long writePosition)
    {
        return switch (walk.how())
        {
            case CUT -> "truncated to " + walk.size() + " bytes, inside the complete document at byte " + walk.end() +
                ": it and any document after it are lost";
            case TRUNCATED -> writePosition >= walk.end() ?
                "truncated to " + walk.size() + " bytes: the documents from byte " + walk.end() + " on are lost" :
                "truncated to " + walk.size() + " bytes right after its last document (nothing in it is missing, " +
                    "but Chronicle cannot read a file without its end)";
            default -> writePosition >= walk.end() ?
                "its documents end at byte " + walk.end() + " (" + describe(walk.how()) + ") but a complete " +
                    "document was written at byte " + writePosition + ": the documents from byte " + walk.end() +
                    " on are lost (zeroed or overwritten headers)" :
                null;
        };
    }

    private static String describe(final End how)
    {
        return switch (how)
        {
            case END_OF_DATA -> "a zero header";
            case END_OF_CYCLE -> "an end-of-file marker";
            case INCOMPLETE -> "a header marked not complete";
            default -> how.name();
        };
    }

    /**
     * Follows a file's chain of document headers with plain reads.
     *
     * @param visitor receives each complete data document, or null.
     */
    static Walk walk(final Path file, final DocumentVisitor visitor) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ))
        {
            final long size = channel.size();
            final ByteBuffer window = ByteBuffer.allocate(WINDOW).order(ByteOrder.nativeOrder());
            long windowStart = 0;
            window.limit(0);
            long position = 0;
            long documents = 0;
            long last = -1;
            while (true)
            {
                if (position + HEADER > size)
                {
                    return new Walk(size, position, End.TRUNCATED, documents, last);
                }
                if (position < windowStart || position + HEADER > windowStart + window.limit())
                {
                    windowStart = position;
                    window.clear().limit((int)Math.min(WINDOW, size - position));
                    readFully(channel, window, position);
                    window.flip();
                }
                final int header = window.getInt((int)(position - windowStart));
                if (header == Wires.NOT_INITIALIZED)
                {
                    return new Walk(size, position, End.END_OF_DATA, documents, last);
                }
                if (header == Wires.END_OF_DATA)
                {
                    return new Walk(size, position, End.END_OF_CYCLE, documents, last);
                }
                if (Wires.isNotComplete(header))
                {
                    return new Walk(size, position, End.INCOMPLETE, documents, last);
                }
                final int length = Wires.lengthOf(header);
                if (position + HEADER + length > size)
                {
                    return new Walk(size, position, End.CUT, documents, last);
                }
                if (Wires.isData(header))
                {
                    documents++;
                    last = position + HEADER;
                    if (visitor != null)
                    {
                        visitor.onDocument(channel, position + HEADER, length);
                    }
                }
                position += HEADER + length;
                position += (-position) & 3; // headers are 4-byte aligned (Chronicle's padding, data format 1)
            }
        }
    }

    /**
     * @return the last outcome of a walked file's last complete document, by its header; -1 when it has none.
     */
    private static long lastOutcome(final Path file, final Walk walk) throws IOException
    {
        if (walk.lastDocument() < 0)
        {
            return -1;
        }
        final byte[] header = new byte[JournalFormat.HEADER_LENGTH];
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ))
        {
            readFully(channel, ByteBuffer.wrap(header), walk.lastDocument());
        }
        return JournalFormat.claimedLast(new UnsafeBuffer(header));
    }

    private static int readHeader(final FileChannel channel, final long position) throws IOException
    {
        final ByteBuffer header = ByteBuffer.allocate(HEADER).order(ByteOrder.nativeOrder());
        readFully(channel, header, position);
        return header.getInt(0);
    }

    private static void readFully(final FileChannel channel, final ByteBuffer buffer, final long position)
        throws IOException
    {
        long at = position;
        while (buffer.hasRemaining())
        {
            final int read = channel.read(buffer, at);
            if (read < 0)
            {
                throw new IOException("unexpected end of file at byte " + at);
            }
            at += read;
        }
    }

    private static void deleteTree(final Path root) throws IOException
    {
        if (!Files.exists(root))
        {
            return;
        }
        try (Stream<Path> files = Files.walk(root))
        {
            for (final Path file : (Iterable<Path>)files.sorted(Comparator.reverseOrder())::iterator)
            {
                Files.delete(file);
            }
        }
    }
}
