package io.quotaledger.journal;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;

/**
 * Damages a journal as a disk would, for tests in other packages.
 */
public final class JournalTampering
{
    private JournalTampering()
    {
    }

    /**
     * Flips a bit in the middle of the newest cycle file's last document: a complete document at the journal's end
     * that fails its check, which recovery refuses unless told to accept the loss.
     */
    public static void flipBitInLastDocument(final DataDir dir) throws IOException
    {
        final List<Path> files = JournalFiles.cycleFiles(dir);
        final Path newest = files.get(files.size() - 1);
        final long[] last = { -1, 0 };
        JournalFiles.walk(newest, (channel, position, length) ->
        {
            last[0] = position;
            last[1] = length;
        });
        if (last[0] < 0)
        {
            throw new IllegalStateException("no document in " + newest);
        }
        try (RandomAccessFile file = new RandomAccessFile(newest.toFile(), "rw"))
        {
            final long at = last[0] + last[1] / 2;
            file.seek(at);
            final int b = file.read();
            file.seek(at);
            file.write(b ^ 0x10);
        }
    }
}
