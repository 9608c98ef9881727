package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.JournalAppender;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;

/**
 * The journal stage: appends each event's outcomes and flushes once per ring batch (one document, and one msync in
 * FSYNC mode), before the reply stage may see any event of the batch: no result leaves before its outcomes are in
 * the journal.
 *
 * <p>When the disk fills up the journal first becomes <em>low on space</em>: it keeps writing into the space it
 * allocated ahead (a reserve that holds everything the ring can have in flight), while {@link #acceptingChanges()}
 * turns false so that the business logic answers new changes UNAVAILABLE without applying them. Once space is freed
 * the journal notices (at most a second later, at the next batch) and changes are taken again.
 *
 * <p>If the journal fails (an I/O error, or space running out beyond the reserve) the ledger can no longer promise
 * durability: every result of the failed batch and of every batch after it is turned into UNAVAILABLE, so nothing
 * unjournaled is ever acknowledged, and the failure is reported (health, logs) until an operator restarts the ledger,
 * which then recovers from the journal. This is the one stage allowed to change a result.
 */
public final class JournalStage implements EventHandler<LedgerEvent>, AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(JournalStage.class);

    private final JournalAppender appender;
    private LedgerEvent[] batch;
    private int batchCount;
    private volatile String failure;

    public JournalStage(final JournalAppender appender)
    {
        this.appender = appender;
    }

    public void onBatchStart(final long batchSize, final long queueDepth)
    {
        if (batch == null || batch.length < batchSize)
        {
            batch = new LedgerEvent[(int)Math.max(batchSize, 1024)]; // grows to the largest batch, then stays
        }
        batchCount = 0;
    }

    public void onEvent(final LedgerEvent event, final long sequence, final boolean endOfBatch)
    {
        batch[batchCount++] = event;
        if (failure == null)
        {
            try
            {
                if (event.outcomeCount() > 0)
                {
                    appender.append(event.firstOutcomeSequence(), event.outcomes(), 0, event.outcomeCount());
                }
                if (endOfBatch)
                {
                    appender.flush();
                }
            }
            catch (final RuntimeException | Error ex)
            {
                failure = ex.toString();
                LOG.error("journal failed: no change is acknowledged from now on; restart to recover", ex);
            }
        }
        if (endOfBatch)
        {
            if (failure != null)
            {
                for (int i = 0; i < batchCount; i++)
                {
                    markUnavailable(batch[i]);
                }
            }
            Arrays.fill(batch, 0, batchCount, null);
            batchCount = 0;
        }
    }

    /**
     * @return what made the journal fail, or null while it works.
     */
    public String failure()
    {
        return failure;
    }

    /**
     * @return whether the journal can take changes: it works and holds its reserve of disk space. Any thread.
     */
    public boolean acceptingChanges()
    {
        return failure == null && appender.lowOnSpace() == null;
    }

    /**
     * @return why the journal is short of disk space (changes are refused meanwhile), or null.
     */
    public String lowOnSpace()
    {
        return appender.lowOnSpace();
    }

    /**
     * @return the sequence of the last outcome in the journal.
     */
    public long lastSequence()
    {
        return appender.lastSequence();
    }

    public JournalAppender appender()
    {
        return appender;
    }

    public void close()
    {
        appender.close();
    }

    private static void markUnavailable(final LedgerEvent event)
    {
        if (event.listener() != null)
        {
            event.result().reset().op(event.command().op()).code(ResultCode.UNAVAILABLE);
        }
    }
}
