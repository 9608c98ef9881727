package io.quotaledger.engine;

import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.WaitStrategy;
import com.lmax.disruptor.dsl.ProducerType;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.OutcomeSink;
import org.agrona.concurrent.EpochClock;
import org.agrona.concurrent.SystemEpochClock;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;
import java.util.concurrent.TimeUnit;

/**
 * Settings of a {@link LedgerEngine}, in one place. Fluent accessors.
 */
public final class EngineConfig
{
    private LedgerConfig ledger = new LedgerConfig();
    private Threading threading = Threading.byDefault();
    private boolean busyWait;
    private int ringSize = 8192;
    private ProducerType producerType = ProducerType.MULTI;
    private WaitStrategy waitStrategy = new StageWaitStrategy();
    private EpochClock clock = SystemEpochClock.INSTANCE;
    private long tickIntervalMillis = 10;
    private final List<EventHandler<LedgerEvent>> stages = new ArrayList<>();
    private BiFunction<LedgerConfig, OutcomeSink, Ledger> ledgerFactory = Ledger::new;
    private long lastSequence;
    private long lastTimestamp;
    private Runnable replyBatchEnd = () -> {};
    private BooleanSupplier acceptingChanges = () -> true;

    public LedgerConfig ledger()
    {
        return ledger;
    }

    public EngineConfig ledger(final LedgerConfig ledger)
    {
        this.ledger = ledger;
        return this;
    }

    /**
     * Which threads run the engine: {@link Threading#SHARED} (one thread for the whole path of a batch) or
     * {@link Threading#DEDICATED} (a pipeline of threads); by default chosen from the cores the JVM sees.
     */
    public Threading threading()
    {
        return threading;
    }

    public EngineConfig threading(final Threading threading)
    {
        this.threading = threading;
        return this;
    }

    /**
     * Threads waiting for work spin instead of sleeping: lower latency for a busy core. In {@link Threading#SHARED}
     * mode the event loop polls its sockets without blocking; in {@link Threading#DEDICATED} mode the ring's threads
     * spin and yield (Disruptor's YieldingWaitStrategy, in place of {@link #waitStrategy()}).
     */
    public boolean busyWait()
    {
        return busyWait;
    }

    public EngineConfig busyWait(final boolean busyWait)
    {
        this.busyWait = busyWait;
        return this;
    }

    /**
     * Ring slots, a power of two: in {@link Threading#DEDICATED} mode the ring is the only queue, and when it is full
     * producers wait. In {@link Threading#SHARED} mode it is the largest batch, and the most submissions from other
     * threads that may wait for the ledger's thread.
     */
    public int ringSize()
    {
        return ringSize;
    }

    public EngineConfig ringSize(final int ringSize)
    {
        this.ringSize = ringSize;
        return this;
    }

    /**
     * MULTI (default) lets any thread submit; SINGLE saves a CAS per submission when exactly one thread ever does.
     */
    public ProducerType producerType()
    {
        return producerType;
    }

    public EngineConfig producerType(final ProducerType producerType)
    {
        this.producerType = producerType;
        return this;
    }

    /** How the ring's consumers wait for work ({@link Threading#DEDICATED} mode): latency against idle CPU. */
    public WaitStrategy waitStrategy()
    {
        return waitStrategy;
    }

    public EngineConfig waitStrategy(final WaitStrategy waitStrategy)
    {
        this.waitStrategy = waitStrategy;
        return this;
    }

    /** The only source of time: each command is stamped with it on the business-logic thread. */
    public EpochClock clock()
    {
        return clock;
    }

    public EngineConfig clock(final EpochClock clock)
    {
        this.clock = clock;
        return this;
    }

    /** How often the ticker checks for due holds when no traffic arrives. */
    public long tickIntervalMillis()
    {
        return tickIntervalMillis;
    }

    public EngineConfig tickIntervalMillis(final long tickIntervalMillis)
    {
        this.tickIntervalMillis = tickIntervalMillis;
        return this;
    }

    /**
     * Adds a stage that sees every event after the business logic and before results are released, in the order
     * added (the journal is one). A stage must not modify the event.
     */
    public EngineConfig addStage(final EventHandler<LedgerEvent> stage)
    {
        stages.add(stage);
        return this;
    }

    /**
     * Called on the reply thread after the last result of each batch: results written during the batch can be
     * flushed together (one syscall per connection per batch, not per result).
     */
    public Runnable replyBatchEnd()
    {
        return replyBatchEnd;
    }

    public EngineConfig replyBatchEnd(final Runnable replyBatchEnd)
    {
        this.replyBatchEnd = replyBatchEnd;
        return this;
    }

    /**
     * Asked on the business-logic thread before each command that would change the ledger: while it says false the
     * command is answered UNAVAILABLE without being applied, and hold expiry waits. The journal says false while it
     * is short of disk space or has failed, so that nothing it could not keep is applied. Must not allocate.
     */
    public BooleanSupplier acceptingChanges()
    {
        return acceptingChanges;
    }

    public EngineConfig acceptingChanges(final BooleanSupplier acceptingChanges)
    {
        this.acceptingChanges = acceptingChanges;
        return this;
    }

    /**
     * Inserts a stage at a position among those added so far (0: first after the business logic).
     */
    public EngineConfig insertStage(final int position, final EventHandler<LedgerEvent> stage)
    {
        stages.add(position, stage);
        return this;
    }

    /**
     * @return a copy with the same settings and stages, to be changed without touching this one.
     */
    public EngineConfig copy()
    {
        final EngineConfig copy = new EngineConfig()
            .ledger(ledger)
            .threading(threading)
            .busyWait(busyWait)
            .ringSize(ringSize)
            .producerType(producerType)
            .waitStrategy(waitStrategy)
            .clock(clock)
            .tickIntervalMillis(tickIntervalMillis)
            .ledgerFactory(ledgerFactory)
            .lastSequence(lastSequence)
            .lastTimestamp(lastTimestamp)
            .replyBatchEnd(replyBatchEnd)
            .acceptingChanges(acceptingChanges);
        copy.stages.addAll(stages);
        return copy;
    }

    public List<EventHandler<LedgerEvent>> stages()
    {
        return Collections.unmodifiableList(stages);
    }

    /**
     * How the business-logic thread gets its ledger: new by default; recovery supplies one rebuilt from a snapshot and
     * the journal. The ledger must send its outcomes to the given sink.
     */
    public BiFunction<LedgerConfig, OutcomeSink, Ledger> ledgerFactory()
    {
        return ledgerFactory;
    }

    public EngineConfig ledgerFactory(final BiFunction<LedgerConfig, OutcomeSink, Ledger> ledgerFactory)
    {
        this.ledgerFactory = ledgerFactory;
        return this;
    }

    /** Sequence of the last outcome the ledger already holds (from recovery): numbering continues after it. */
    public long lastSequence()
    {
        return lastSequence;
    }

    public EngineConfig lastSequence(final long lastSequence)
    {
        this.lastSequence = lastSequence;
        return this;
    }

    /** Time of the last outcome the ledger already holds: the engine's time never goes below it. */
    public long lastTimestamp()
    {
        return lastTimestamp;
    }

    public EngineConfig lastTimestamp(final long lastTimestamp)
    {
        this.lastTimestamp = lastTimestamp;
        return this;
    }

    /**
     * @throws IllegalArgumentException naming the first setting out of range.
     */
    public void validate()
    {
        ledger.validate();
        if (Integer.bitCount(ringSize) != 1 || ringSize < 2)
        {
            throw new IllegalArgumentException("ringSize must be a power of two >= 2: " + ringSize);
        }
        if (threading == null)
        {
            throw new IllegalArgumentException("threading must be shared or dedicated");
        }
        if (tickIntervalMillis <= 0)
        {
            throw new IllegalArgumentException("tickIntervalMillis must be > 0");
        }
    }
}
