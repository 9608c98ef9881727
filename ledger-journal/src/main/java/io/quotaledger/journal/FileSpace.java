package io.quotaledger.journal;

import net.openhft.posix.PosixAPI;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Allocates the disk blocks behind a range of a file, so that a later write into that range through a memory mapping
 * cannot fail for want of space. Chronicle Queue writes its files through mappings of sparse files: where the file
 * system cannot back a page when it is first touched, the JVM gets SIGBUS and reports it as an {@link InternalError}
 * at some later point, long after the write "succeeded". Allocating first turns that into an {@link IOException} here,
 * before anything depends on the write.
 *
 * <p>Uses fallocate(2) (mode 0: allocate, keep what is there) through OpenHFT's posix library, which Chronicle itself
 * ships and uses. Where that fails (no native access, a file system without fallocate, or no space: the library's
 * errno is not reliable enough to tell which) it does what glibc's posix_fallocate does instead: writes one zero byte
 * into every block of the range that reads as zero, which allocates the block or fails with "No space left on
 * device". That is safe only while nothing else writes into the range at the same time; the journal calls it from
 * its one writing thread, for ranges Chronicle has not written yet or before the queue is opened.
 */
final class FileSpace
{
    private static final Logger LOG = LoggerFactory.getLogger(FileSpace.class);
    private static final int O_RDWR = 2;
    private static final int FALLOC_FL_KEEP_SIZE = 1;
    private static final int FALLOC_FL_PUNCH_HOLE = 2;
    private static final int FALLBACK_BLOCK = 512; // when the file system does not say; every block gets a byte
    private static final PosixAPI POSIX = loadPosix();
    private static volatile boolean zerosOnly = POSIX == null;

    private FileSpace()
    {
    }

    /**
     * Allocates {@code [from, to)} of an existing file, growing it to {@code to} when it is shorter.
     *
     * @throws IOException when the space cannot be had.
     */
    static void allocate(final Path file, final long from, final long to) throws IOException
    {
        if (to > from && (zerosOnly || !fallocate(file, 0, from, to - from)))
        {
            try
            {
                writeZeros(file, from, to);
            }
            catch (final IOException ex)
            {
                throw new IOException(file + ": cannot allocate bytes " + from + " to " + to + ": " + ex.getMessage(),
                    ex);
            }
        }
    }

    /**
     * Gives back the blocks of {@code [from, to)} (both rounded inwards to whole pages) without changing the file's
     * size; reading the range then returns zeros. Best effort: nothing happens where the file system cannot do it.
     */
    static void release(final Path file, final long from, final long to)
    {
        final long start = (from + 4095) & ~4095L;
        final long end = to & ~4095L;
        if (end > start && !zerosOnly &&
            !fallocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start, end - start))
        {
            LOG.debug("{}: could not release bytes {} to {}", file, start, end);
        }
    }

    /**
     * For tests: allocate by writing zeros even where fallocate works.
     */
    static void zerosOnlyForTesting(final boolean zeros)
    {
        zerosOnly = zeros || POSIX == null;
    }

    /**
     * @return whether fallocate(2) did it.
     */
    private static boolean fallocate(final Path file, final int mode, final long offset, final long length)
    {
        final int fd = POSIX.open(file.toString(), O_RDWR, 0);
        if (fd < 0)
        {
            return false;
        }
        try
        {
            return POSIX.fallocate(fd, mode, offset, length) == 0;
        }
        finally
        {
            POSIX.close(fd);
        }
    }

    private static void writeZeros(final Path file, final long from, final long to) throws IOException
    {
        final long block = blockSize(file);
        final ByteBuffer one = ByteBuffer.allocate(1);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            for (long position = from - from % block; position < to; position += block)
            {
                final long at = Math.max(position, from);
                one.clear();
                // a byte that reads as zero is a hole or a zero: writing a zero there allocates and changes nothing
                if (at < channel.size() && channel.read(one, at) == 1 && one.get(0) != 0)
                {
                    continue;
                }
                one.clear().put(0, (byte)0);
                if (channel.write(one, at) != 1)
                {
                    throw new IOException("short write at " + at);
                }
            }
            if (channel.size() < to)
            {
                channel.write(one.clear().put(0, (byte)0), to - 1);
            }
        }
    }

    private static long blockSize(final Path file)
    {
        try
        {
            final long size = Files.getFileStore(file).getBlockSize();
            return size > 0 ? Math.min(size, 4096) : FALLBACK_BLOCK;
        }
        catch (final IOException | UnsupportedOperationException ex)
        {
            return FALLBACK_BLOCK;
        }
    }

    private static PosixAPI loadPosix()
    {
        try
        {
            final PosixAPI posix = PosixAPI.posix();
            posix.close(-1); // EBADF from the native one; the no-op one, whose fallocate "succeeds", throws
            return posix;
        }
        catch (final RuntimeException | LinkageError ex)
        {
            LOG.warn("native posix calls unavailable ({}); journal space is allocated by writing zeros", ex.toString());
            return null;
        }
    }
}
