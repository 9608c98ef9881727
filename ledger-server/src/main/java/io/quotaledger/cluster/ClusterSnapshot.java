package io.quotaledger.cluster;

import io.aeron.ExclusivePublication;
import io.aeron.Image;
import io.aeron.ImageFragmentAssembler;
import io.aeron.logbuffer.FragmentHandler;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The replicated ledger's snapshot, taken through the cluster's snapshot mechanism: a header, then the ledger's own
 * snapshot bytes in chunks. The header carries what the log alone does not rebuild (the outcome sequence, the time
 * floor, the expiry timer's deadline) and the configuration that changes answers (capacities, the dedupe window),
 * so that a node started with other settings refuses the snapshot instead of answering retries differently. Every
 * field is written in a fixed order from state that every node holds alike: the bytes are the same on every node.
 *
 * <pre>
 * header: MAGIC(4) VERSION(4) lastSequence(8) lastTimestamp(8) expiryDeadline(8) checksum(8) length(8)
 *         then the behaviour-changing settings, 8 bytes each ({@link #SETTINGS})
 * chunks: up to CHUNK bytes of {@link Ledger#writeSnapshot} each, {@code length} in all
 * </pre>
 */
final class ClusterSnapshot
{
    /** "QLCS". */
    static final int MAGIC = 0x53434C51;
    static final int VERSION = 1;

    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;
    private static final int SETTINGS = 13;
    private static final int SETTINGS_OFFSET = 48;
    private static final int HEADER_LENGTH = SETTINGS_OFFSET + SETTINGS * Long.BYTES;
    private static final int CHUNK = 64 * 1024;

    /**
     * A snapshot as read from the cluster: the ledger's bytes, to load into a ledger of this member's configuration,
     * and what it restores besides the ledger. {@link #NONE} when the member starts without one.
     *
     * @param bytes          the ledger's snapshot, null for none.
     * @param checksum       the ledger's checksum when it was taken.
     * @param lastSequence   the sequence of the last outcome it includes.
     * @param lastTimestamp  the time floor.
     * @param expiryDeadline the deadline of the scheduled expiry timer, Long.MAX_VALUE when none.
     */
    record State(UnsafeBuffer bytes, long checksum, long lastSequence, long lastTimestamp, long expiryDeadline)
    {
        static final State NONE = new State(null, 0, 0, 0, Long.MAX_VALUE);

        /**
         * Loads the snapshot (if any) into a new ledger.
         *
         * @throws IllegalStateException when it does not load to the checksum it was taken with.
         */
        Ledger restore(final Ledger ledger)
        {
            if (bytes != null)
            {
                ledger.loadSnapshot(bytes, 0, bytes.capacity());
                if (ledger.checksum() != checksum)
                {
                    throw new IllegalStateException("the cluster's snapshot loads to checksum " +
                        Long.toHexString(ledger.checksum()) + " but was taken at " + Long.toHexString(checksum));
                }
            }
            return ledger;
        }
    }

    private ClusterSnapshot()
    {
    }

    /**
     * Writes the snapshot into the cluster's snapshot publication, waiting out back-pressure.
     *
     * @param checksum the ledger's {@link Ledger#checksum()}, taken by the caller (it is the costly part).
     * @param bytes    where the ledger's snapshot is copied first: at least {@link Ledger#snapshotLength()} long.
     * @return a CRC-32C of every byte written (header and state): equal on members whose snapshots are
     * byte-for-byte the same.
     */
    static long write(
        final ExclusivePublication publication,
        final IdleStrategy idle,
        final Ledger ledger,
        final long checksum,
        final UnsafeBuffer bytes,
        final long lastSequence,
        final long lastTimestamp,
        final long expiryDeadline)
    {
        final int written = ledger.writeSnapshot(bytes, 0);

        final UnsafeBuffer header = new UnsafeBuffer(new byte[HEADER_LENGTH]);
        header.putInt(0, MAGIC, ORDER);
        header.putInt(4, VERSION, ORDER);
        header.putLong(8, lastSequence, ORDER);
        header.putLong(16, lastTimestamp, ORDER);
        header.putLong(24, expiryDeadline, ORDER);
        header.putLong(32, checksum, ORDER);
        header.putLong(40, written, ORDER);
        final long[] settings = settings(ledger.config());
        for (int i = 0; i < SETTINGS; i++)
        {
            header.putLong(SETTINGS_OFFSET + i * Long.BYTES, settings[i], ORDER);
        }
        offer(publication, idle, header, 0, HEADER_LENGTH);
        final int chunk = Math.min(CHUNK, publication.maxMessageLength());
        for (int offset = 0; offset < written; offset += chunk)
        {
            offer(publication, idle, bytes, offset, Math.min(chunk, written - offset));
        }
        final CRC32C crc = new CRC32C();
        crc.update(header.byteArray(), 0, HEADER_LENGTH);
        crc.update(bytes.byteArray(), 0, written);
        return crc.getValue();
    }

    /**
     * Reads a snapshot taken with this member's configuration.
     *
     * @throws IllegalStateException when the snapshot is not one of ours or was taken with other behaviour-changing
     *                               settings.
     */
    static State load(final Image image, final IdleStrategy idle, final LedgerConfig config)
    {
        final Loader loader = new Loader();
        final ImageFragmentAssembler assembler = new ImageFragmentAssembler(loader);
        while (!loader.complete())
        {
            final int fragments = image.poll(assembler, 16);
            if (fragments == 0 && image.isEndOfStream())
            {
                throw new IllegalStateException("the snapshot ended early: " + loader.received + " of " +
                    (loader.bytes == null ? "?" : loader.bytes.capacity()) + " bytes");
            }
            idle.idle(fragments);
        }
        final UnsafeBuffer h = loader.header;
        final long[] expected = settings(config);
        for (int i = 0; i < SETTINGS; i++)
        {
            final long taken = h.getLong(SETTINGS_OFFSET + i * Long.BYTES, ORDER);
            if (taken != expected[i])
            {
                throw new IllegalStateException("the cluster's snapshot was taken with " + SETTING_NAMES[i] + " = " +
                    taken + " but this node is set to " + expected[i] + ": every node must run with the same ledger " +
                    "settings (they change answers, retries included)");
            }
        }
        return new State(loader.bytes, h.getLong(32, ORDER), h.getLong(8, ORDER), h.getLong(16, ORDER),
            h.getLong(24, ORDER));
    }

    private static final String[] SETTING_NAMES = {
        "max-accounts", "max-free-quotas", "max-open-holds", "dedupe-window", "dedupe-window-millis",
        "max-hold-ttl-millis", "max-settle-excess", "max-expiries-per-tick", "max-virtual-keys", "max-rate-limits",
        "max-spend-windows", "max-price-entries", "max-service-budgets" };

    /**
     * @return every setting of the ledger that changes an answer, in a fixed order ({@link #SETTING_NAMES}); the
     * expected number of accounts only sizes the maps.
     */
    private static long[] settings(final LedgerConfig config)
    {
        return new long[]{
            config.maxAccounts(), config.maxFreeQuotas(), config.maxOpenHolds(), config.dedupeWindowCount(),
            config.dedupeWindowMillis(), config.maxHoldTtlMillis(), config.maxSettleExcess(),
            config.maxExpiriesPerTick(), config.maxVirtualKeys(), config.maxRateLimits(), config.maxSpendWindows(),
            config.maxPriceEntries(), config.maxServiceBudgets() };
    }

    private static void offer(
        final ExclusivePublication publication,
        final IdleStrategy idle,
        final DirectBuffer buffer,
        final int offset,
        final int length)
    {
        idle.reset();
        long result;
        while ((result = publication.offer(buffer, offset, length)) < 0)
        {
            if (result == ExclusivePublication.CLOSED || result == ExclusivePublication.MAX_POSITION_EXCEEDED)
            {
                throw new IllegalStateException("the snapshot publication refused a chunk: " + result);
            }
            idle.idle();
        }
    }

    private static final class Loader implements FragmentHandler
    {
        private final UnsafeBuffer header = new UnsafeBuffer(new byte[HEADER_LENGTH]);
        private boolean headerRead;
        private UnsafeBuffer bytes;
        private int received;

        boolean complete()
        {
            return headerRead && received == bytes.capacity();
        }

        public void onFragment(
            final DirectBuffer buffer, final int offset, final int length, final io.aeron.logbuffer.Header h)
        {
            if (!headerRead)
            {
                if (length != HEADER_LENGTH || buffer.getInt(offset, ORDER) != MAGIC)
                {
                    throw new IllegalStateException("not a quota ledger snapshot (" + length + " byte header)");
                }
                if (buffer.getInt(offset + 4, ORDER) != VERSION)
                {
                    throw new IllegalStateException("snapshot version " + buffer.getInt(offset + 4, ORDER) +
                        " is not " + VERSION + ": written by another version of the ledger");
                }
                header.putBytes(0, buffer, offset, length);
                final long total = header.getLong(40, ORDER);
                if (total < 0 || total > Integer.MAX_VALUE - 8)
                {
                    throw new IllegalStateException("snapshot length " + total + " is out of range");
                }
                bytes = new UnsafeBuffer(new byte[(int)total]);
                headerRead = true;
                return;
            }
            if (received + length > bytes.capacity())
            {
                throw new IllegalStateException("the snapshot holds more than its header says");
            }
            bytes.putBytes(received, buffer, offset, length);
            received += length;
        }
    }
}
