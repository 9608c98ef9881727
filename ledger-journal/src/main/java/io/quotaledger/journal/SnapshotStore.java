package io.quotaledger.journal;

import io.quotaledger.core.Ledger;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * Snapshot files: the ledger's state as of a journal sequence, written atomically (temporary file, fsync, rename) so
 * that a crash leaves either the whole snapshot or none. A damaged or truncated snapshot is detected by its checksums
 * and the ledger's own state checksum, and recovery falls back to the one before.
 *
 * <pre>
 * snapshot-&lt;sequence, 20 digits&gt;.snap
 *   0  magic (int) 0x53534C51 "QLSS"     4  version (int)
 *   8  sequence (long): every outcome up to it is in the snapshot, none after
 *  16  timestamp (long): time of that outcome      24  ledger checksum (long)
 *  32  payload length (long)  40  payload crc32c (int)  44  header crc32c (int, over bytes 0-43)
 *  48  reserved, to 64          64  payload: Ledger.writeSnapshot
 * </pre>
 */
public final class SnapshotStore
{
    public static final int MAGIC = 0x53534C51;
    public static final int VERSION = 1;
    static final int HEADER_LENGTH = 64;
    private static final String PREFIX = "snapshot-";
    private static final String SUFFIX = ".snap";

    /**
     * A snapshot file whose header checks out (its payload is checked when loaded).
     */
    public record Info(Path path, long sequence, long timestamp, long checksum, long payloadLength, int payloadCrc)
    {
    }

    private final Path folder;

    public SnapshotStore(final DataDir dir)
    {
        this.folder = dir.snapshots();
    }

    public Path folder()
    {
        return folder;
    }

    /**
     * Writes a snapshot durably. Slow (disk): call it off the business-logic thread.
     *
     * @param payload bytes from {@link Ledger#writeSnapshot}, backed by an array or a ByteBuffer.
     * @return the file written.
     */
    public Path write(
        final long sequence, final long timestamp, final long checksum, final DirectBuffer payload, final int length)
        throws IOException
    {
        OwnerOnly.createDirectories(folder);
        final ByteBuffer body = payload.byteArray() != null ?
            ByteBuffer.wrap(payload.byteArray(), payload.wrapAdjustment(), length) :
            payload.byteBuffer().duplicate().position(payload.wrapAdjustment()).limit(payload.wrapAdjustment() + length);
        final CRC32C crc = new CRC32C();
        crc.update(body.duplicate());

        final ByteBuffer header = ByteBuffer.allocate(HEADER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
        header.putInt(MAGIC).putInt(VERSION).putLong(sequence).putLong(timestamp).putLong(checksum)
            .putLong(length).putInt((int)crc.getValue());
        crc.reset();
        crc.update(header.array(), 0, 44);
        header.putInt((int)crc.getValue()).position(0);

        final Path file = folder.resolve(name(sequence));
        final Path temporary = folder.resolve(name(sequence) + ".tmp");
        Files.deleteIfExists(temporary); // left by a crash: created anew, so owner-only
        try (FileChannel channel = FileChannel.open(temporary,
            Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), OwnerOnly.fileAttributes()))
        {
            writeFully(channel, header);
            writeFully(channel, body);
            channel.force(true);
        }
        catch (final IOException ex)
        {
            // a full disk, typically: no snapshot, and the partial file must not keep the space
            Files.deleteIfExists(temporary);
            throw ex;
        }
        Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        forceDirectory();
        return file;
    }

    /**
     * @return snapshots whose header is intact, newest (highest sequence) first. Files with a damaged header are
     * left out; {@link #damaged()} names them.
     */
    public List<Info> list() throws IOException
    {
        final List<Info> snapshots = new ArrayList<>();
        for (final Path file : files())
        {
            final Info info = readHeader(file);
            if (info != null)
            {
                snapshots.add(info);
            }
        }
        snapshots.sort(Comparator.comparingLong(Info::sequence).reversed());
        return snapshots;
    }

    /**
     * @return snapshot files whose header does not check out.
     */
    public List<Path> damaged() throws IOException
    {
        final List<Path> damaged = new ArrayList<>();
        for (final Path file : files())
        {
            if (readHeader(file) == null)
            {
                damaged.add(file);
            }
        }
        return damaged;
    }

    /**
     * Loads a snapshot into a new ledger and checks it: payload checksum, then the ledger's state checksum.
     *
     * @throws IOException when the file cannot be read or does not check out.
     */
    public void load(final Info info, final Ledger into) throws IOException
    {
        if (info.payloadLength() > Integer.MAX_VALUE - 64)
        {
            throw new IOException(info.path() + ": payload too large");
        }
        final byte[] payload = new byte[(int)info.payloadLength()];
        try (FileChannel channel = FileChannel.open(info.path(), StandardOpenOption.READ))
        {
            if (channel.size() != HEADER_LENGTH + info.payloadLength())
            {
                throw new IOException(info.path() + ": truncated, " + channel.size() + " bytes");
            }
            final ByteBuffer body = ByteBuffer.wrap(payload);
            channel.position(HEADER_LENGTH);
            while (body.hasRemaining())
            {
                if (channel.read(body) < 0)
                {
                    throw new IOException(info.path() + ": truncated");
                }
            }
        }
        final CRC32C crc = new CRC32C();
        crc.update(payload);
        if ((int)crc.getValue() != info.payloadCrc())
        {
            throw new IOException(info.path() + ": payload checksum mismatch");
        }
        try
        {
            into.loadSnapshot(new UnsafeBuffer(payload), 0, payload.length);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new IOException(info.path() + ": " + ex.getMessage(), ex);
        }
        if (into.checksum() != info.checksum())
        {
            throw new IOException(info.path() + ": state checksum " + Long.toHexString(into.checksum()) +
                " after loading, snapshot says " + Long.toHexString(info.checksum()));
        }
    }

    /**
     * Deletes all but the newest {@code keep} snapshots, and leftover temporary files.
     */
    public void prune(final int keep) throws IOException
    {
        prune(keep, 0);
    }

    /**
     * Deletes all but the newest {@code keep} snapshots and the one at {@code keepSequence}, and leftover temporary
     * files. A snapshot is checked only when loaded: keeping the one recovery started from (which loaded and checked
     * out) leaves recovery a snapshot to fall back to, with the journal after it, should the newer ones not load.
     *
     * @param keepSequence the sequence of a snapshot to keep whatever its age; 0 for none.
     */
    public void prune(final int keep, final long keepSequence) throws IOException
    {
        final List<Info> snapshots = list();
        for (int i = keep; i < snapshots.size(); i++)
        {
            if (snapshots.get(i).sequence() != keepSequence)
            {
                Files.deleteIfExists(snapshots.get(i).path());
            }
        }
        if (Files.isDirectory(folder))
        {
            try (Stream<Path> files = Files.list(folder))
            {
                for (final Path file : (Iterable<Path>)files.filter(f -> f.toString().endsWith(".tmp"))::iterator)
                {
                    Files.deleteIfExists(file);
                }
            }
        }
    }

    static String name(final long sequence)
    {
        return String.format("%s%020d%s", PREFIX, sequence, SUFFIX);
    }

    private List<Path> files() throws IOException
    {
        if (!Files.isDirectory(folder))
        {
            return List.of();
        }
        try (Stream<Path> files = Files.list(folder))
        {
            return files.filter(f ->
            {
                final String name = f.getFileName().toString();
                return name.startsWith(PREFIX) && name.endsWith(SUFFIX);
            }).sorted().toList();
        }
    }

    private static Info readHeader(final Path file) throws IOException
    {
        final ByteBuffer header = ByteBuffer.allocate(HEADER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ))
        {
            while (header.hasRemaining() && channel.read(header) > 0)
            {
                // read the whole header
            }
        }
        if (header.hasRemaining())
        {
            return null;
        }
        final CRC32C crc = new CRC32C();
        crc.update(header.array(), 0, 44);
        if (header.getInt(0) != MAGIC || header.getInt(4) != VERSION || header.getInt(44) != (int)crc.getValue())
        {
            return null;
        }
        return new Info(file, header.getLong(8), header.getLong(16), header.getLong(24), header.getLong(32),
            header.getInt(40));
    }

    private static void writeFully(final FileChannel channel, final ByteBuffer buffer) throws IOException
    {
        while (buffer.hasRemaining())
        {
            channel.write(buffer);
        }
    }

    private void forceDirectory()
    {
        try (FileChannel directory = FileChannel.open(folder, StandardOpenOption.READ))
        {
            directory.force(true);
        }
        catch (final IOException ex)
        {
            // not every file system lets a directory be opened and forced; the rename is still atomic
        }
    }
}
