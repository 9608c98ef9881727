package io.quotaledger.journal;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.Period;
import io.quotaledger.core.Result;
import net.openhft.chronicle.queue.ExcerptAppender;
import net.openhft.chronicle.queue.RollCycles;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.wire.DocumentContext;
import org.agrona.ExpandableArrayBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.CRC32C;

/**
 * Real outcomes for the journal tests: a ledger runs a seeded random workload and every outcome it emits is kept, in
 * order, so that outcome {@code n} (numbered from 1 like the journal) can be appended, compared and replayed.
 */
final class OutcomeSource implements OutcomeSink
{
    static final long START_TIME = 1_700_000_000_000L;

    final LedgerConfig config = new LedgerConfig().dedupeWindowCount(1 << 16).expectedAccounts(256);
    final Ledger ledger = new Ledger(config, this);
    final ExpandableArrayBuffer outcomes = new ExpandableArrayBuffer(1 << 20);
    private final Random random;
    private final Command command = new Command();
    private final Result result = new Result();
    private int count;
    private long time = START_TIME;
    private long request;

    OutcomeSource(final long seed)
    {
        this.random = new Random(seed);
    }

    public void onOutcome(final Outcome outcome)
    {
        outcome.encode(outcomes, count * Outcome.LENGTH);
        count++;
    }

    int count()
    {
        return count;
    }

    /**
     * Runs commands until at least {@code target} outcomes exist.
     *
     * @return the number of outcomes, which may pass the target by one or two (a command can emit several).
     */
    int produceUntil(final int target)
    {
        while (count < target)
        {
            final long user = 1 + random.nextInt(50);
            request++;
            time += 1 + random.nextInt(3);
            switch (random.nextInt(6))
            {
                case 0 -> command.reset().op(Op.CREDIT).userId(user).amount(1 + random.nextInt(1_000));
                case 1 -> command.reset().op(Op.GRANT).userId(user).serviceId(1).amount(random.nextInt(50))
                    .period(Period.DAY);
                case 2 -> command.reset().op(Op.RESERVE).userId(user).serviceId(1).amount(1 + random.nextInt(40))
                    .ttlMillis(60_000);
                case 3 -> command.reset().op(Op.SETTLE).holdId(7, request - 1 - random.nextInt(10))
                    .amount(random.nextInt(50));
                default -> command.reset().op(Op.DEDUCT).userId(user).serviceId(1).amount(1 + random.nextInt(30));
            }
            ledger.process(command.requestId(7, request).timestamp(time), result);
        }
        return count;
    }

    /**
     * @param sequence 1-based, like the journal.
     */
    int offset(final long sequence)
    {
        return (int)(sequence - 1) * Outcome.LENGTH;
    }

    Outcome outcome(final long sequence)
    {
        final Outcome outcome = new Outcome();
        if (!outcome.decode(outcomes, offset(sequence)))
        {
            throw new IllegalStateException("outcome " + sequence);
        }
        return outcome;
    }

    long timestamp(final long sequence)
    {
        return outcome(sequence).timestamp();
    }

    /**
     * Appends outcomes {@code from..to} and flushes: a document per {@link JournalAppender#MAX_OUTCOMES_PER_DOCUMENT}.
     */
    void append(final JournalAppender appender, final long from, final long to)
    {
        appender.append(from, outcomes, offset(from), (int)(to - from + 1));
        appender.flush();
    }

    Ledger newLedger()
    {
        return new Ledger(config, OutcomeSink.NONE);
    }

    /**
     * @return the checksum of a new ledger given outcomes {@code 1..to}: what recovery must reproduce.
     */
    long checksumAfter(final long to)
    {
        final Ledger replica = newLedger();
        for (long sequence = 1; sequence <= to; sequence++)
        {
            replica.apply(outcome(sequence));
        }
        return replica.checksum();
    }

    /**
     * Writes a snapshot of the source ledger's current state, labelled with {@code sequence} (normally the count).
     */
    Path snapshot(final SnapshotStore store, final long sequence) throws IOException
    {
        final UnsafeBuffer payload = new UnsafeBuffer(new byte[ledger.snapshotLength()]);
        final int length = ledger.writeSnapshot(payload, 0);
        return store.write(sequence, time, ledger.checksum(), payload, length);
    }

    /**
     * Writes one document as the appender would (valid header and checksum) but with any first sequence: how a
     * test makes a gap the appender itself refuses to write.
     */
    void writeRawDocument(final DataDir dir, final long first, final int count)
    {
        writeRawBytes(dir, document(first, count));
    }

    /**
     * @return a well-formed document holding outcomes {@code first..first+count-1}.
     */
    byte[] document(final long first, final int count)
    {
        final byte[] document = new byte[JournalFormat.documentLength(count)];
        final UnsafeBuffer buffer = new UnsafeBuffer(document);
        buffer.putInt(0, JournalFormat.MAGIC, JournalFormat.ORDER);
        buffer.putShort(4, JournalFormat.VERSION, JournalFormat.ORDER);
        buffer.putLong(8, first, JournalFormat.ORDER);
        buffer.putInt(16, count, JournalFormat.ORDER);
        buffer.putBytes(JournalFormat.HEADER_LENGTH, outcomes, offset(first), count * Outcome.LENGTH);
        final int crcAt = document.length - JournalFormat.TRAILER_LENGTH;
        buffer.putInt(crcAt, JournalFormat.crc(document, crcAt, new CRC32C()), JournalFormat.ORDER);
        return document;
    }

    /**
     * Writes any bytes as one journal document, through Chronicle itself: how a torn or damaged write looks once
     * Chronicle has closed the document.
     */
    static void writeRawBytes(final DataDir dir, final byte[] bytes)
    {
        try (SingleChronicleQueue queue = Journals.builder(dir, RollCycles.FAST_DAILY).build();
            ExcerptAppender appender = queue.createAppender();
            DocumentContext document = appender.writingDocument())
        {
            document.wire().bytes().write(bytes);
        }
    }

    /**
     * @return a well-formed document of outcomes {@code first..first+count-1} with one payload byte flipped: its
     * checksum no longer matches, as after a torn page.
     */
    byte[] damagedDocument(final long first, final int count)
    {
        final byte[] document = document(first, count);
        document[JournalFormat.HEADER_LENGTH + 60] ^= 0x10;
        return document;
    }
}
