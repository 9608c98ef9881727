package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeSink;

/**
 * A stage that applies every outcome to a second {@link Ledger} as it passes: a live proof that the outcomes alone
 * rebuild the state (what journal replay relies on), and the shape of a hot standby. Read it once the engine is
 * closed.
 */
public final class ReplicaStage implements EventHandler<LedgerEvent>
{
    private final Ledger replica;
    private final Outcome outcome = new Outcome();
    private long applied;

    public ReplicaStage(final LedgerConfig config)
    {
        replica = new Ledger(config, OutcomeSink.NONE);
    }

    public void onEvent(final LedgerEvent event, final long sequence, final boolean endOfBatch)
    {
        for (int i = 0; i < event.outcomeCount(); i++)
        {
            if (!outcome.decode(event.outcomes(), LedgerEvent.outcomeOffset(i)))
            {
                throw new IllegalStateException("undecodable outcome at sequence " + sequence);
            }
            replica.apply(outcome);
            applied++;
        }
    }

    public Ledger replica()
    {
        return replica;
    }

    public long applied()
    {
        return applied;
    }
}
