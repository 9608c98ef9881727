package io.quotaledger.journal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A tmpfs of a few MiB for disk-full tests, mounted when that works (root on Linux); the test is skipped otherwise.
 * Files fill it to a chosen amount of free space, and are deleted to free it again. Shared with ledger-server's
 * tests through this module's test-jar.
 */
public final class SmallFileSystem implements AutoCloseable
{
    private final Path mount;

    private SmallFileSystem(final Path mount)
    {
        this.mount = mount;
    }

    /**
     * Mounts a tmpfs of {@code size} (as mount(8) takes it: "16m") on a new folder of {@code parent}, or skips the
     * test.
     */
    public static SmallFileSystem mount(final Path parent, final String size) throws Exception
    {
        assumeTrue(System.getProperty("os.name").startsWith("Linux"), "disk-full test needs Linux (tmpfs)");
        final Path mount = Files.createDirectory(parent.resolve("fs"));
        String output;
        boolean mounted;
        try
        {
            final Process process = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs",
                mount.toString()).redirectErrorStream(true).start();
            output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            mounted = process.waitFor(30, TimeUnit.SECONDS) && process.exitValue() == 0;
        }
        catch (final IOException ex)
        {
            output = ex.toString();
            mounted = false;
        }
        assumeTrue(mounted, "disk-full test skipped: cannot mount a " + size + " tmpfs (needs root): " + output);
        return new SmallFileSystem(mount);
    }

    public Path root()
    {
        return mount;
    }

    /**
     * Writes a new file until about {@code leaveFree} bytes are left, or until the file system is full (0).
     */
    public Path fill(final String name, final long leaveFree) throws IOException
    {
        final Path file = mount.resolve(name);
        final ByteBuffer block = ByteBuffer.allocateDirect(64 << 10);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE))
        {
            while (free() > leaveFree + block.capacity())
            {
                channel.write(block.clear());
            }
            if (leaveFree == 0)
            {
                final ByteBuffer page = ByteBuffer.allocate(4096);
                try
                {
                    while (true)
                    {
                        channel.write(page.clear());
                    }
                }
                catch (final IOException full)
                {
                    // no space left: what was asked for
                }
            }
        }
        return file;
    }

    public long free() throws IOException
    {
        return Files.getFileStore(mount).getUsableSpace();
    }

    public void close() throws Exception
    {
        final Process process = new ProcessBuilder("umount", "-l", mount.toString()).inheritIO().start();
        if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0)
        {
            throw new IllegalStateException("umount " + mount + " failed");
        }
    }
}
