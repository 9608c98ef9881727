package io.quotaledger.server;

import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

import java.io.IOException;
import java.io.OutputStream;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;

/**
 * The server's metrics in Prometheus text format. Hot-path counters are resolved to data points once, so counting
 * a result allocates nothing; latency goes into an HdrHistogram recorder and is exported as percentiles of the
 * interval since the previous scrape.
 */
public final class ServerMetrics
{
    /** Kinds of bad input, each counted. */
    public enum BadFrame
    {
        MALFORMED, OVERSIZED, UNKNOWN_MESSAGE, UNSUPPORTED_VERSION, UNAUTHENTICATED, FORBIDDEN
    }

    /** Why the server closed a connection, each counted. */
    public enum Close
    {
        /** No Hello within the Hello timeout. */
        HELLO_TIMEOUT,
        /** The oldest unauthenticated connection, closed to make room for a new one. */
        EVICTED,
        /** A Hello with a key no one has, or a malformed Hello. */
        HELLO_REFUSED,
        /** Something other than a valid Hello before a successful Hello. */
        BEFORE_HELLO,
        /** A second Hello on an authenticated connection. */
        SECOND_HELLO,
        /** A frame length out of range: the stream is out of step. */
        OUT_OF_STEP,
        /** Nothing received for the idle timeout. */
        IDLE
    }

    private static final double[] QUANTILES = { 0.5, 0.9, 0.99, 0.999, 1.0 };

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final CounterDataPoint[][] results = new CounterDataPoint[Op.values().length][ResultCode.values().length];
    private final CounterDataPoint[] badFrames = new CounterDataPoint[BadFrame.values().length];
    private final CounterDataPoint[] closes = new CounterDataPoint[Close.values().length];
    private final CounterDataPoint connectionsOpened;
    private final CounterDataPoint connectionsRefused;
    private final Recorder latency = new Recorder(TimeUnit.SECONDS.toNanos(60), 3);
    private Histogram interval;

    public ServerMetrics()
    {
        final Counter requests = Counter.builder()
            .name("ledger_requests")
            .help("Requests answered, by operation and result code")
            .labelNames("op", "result")
            .register(registry);
        // NULL_VAL is SBE's "no value", never an answer: not a label
        for (final Op op : Op.values())
        {
            for (final ResultCode code : ResultCode.values())
            {
                if (op == Op.NULL_VAL || code == ResultCode.NULL_VAL)
                {
                    continue;
                }
                results[op.ordinal()][code.ordinal()] =
                    requests.labelValues(op.name().toLowerCase(Locale.ROOT), code.name().toLowerCase(Locale.ROOT));
            }
        }
        final Counter bad = Counter.builder()
            .name("ledger_bad_frames")
            .help("Frames refused, by kind; closed connections included")
            .labelNames("kind")
            .register(registry);
        for (final BadFrame kind : BadFrame.values())
        {
            badFrames[kind.ordinal()] = bad.labelValues(kind.name().toLowerCase(Locale.ROOT));
        }
        final Counter closed = Counter.builder()
            .name("ledger_connections_closed")
            .help("Connections the server closed, by reason (closes by clients are not counted)")
            .labelNames("reason")
            .register(registry);
        for (final Close reason : Close.values())
        {
            closes[reason.ordinal()] = closed.labelValues(reason.name().toLowerCase(Locale.ROOT));
        }
        final Counter connections = Counter.builder()
            .name("ledger_connections_opened")
            .help("Connections accepted, and refused (too many)")
            .labelNames("outcome")
            .register(registry);
        connectionsOpened = connections.labelValues("accepted");
        connectionsRefused = connections.labelValues("refused");
        GaugeWithCallback.builder()
            .name("ledger_request_latency_seconds")
            .help("Time from a request's arrival to its result being written, since the previous scrape")
            .labelNames("quantile")
            .callback(callback ->
            {
                final Histogram snapshot = latencySnapshot();
                for (final double q : QUANTILES)
                {
                    callback.call(snapshot.getValueAtPercentile(q * 100) / 1e9, Double.toString(q));
                }
            })
            .register(registry);
    }

    /**
     * Adds a gauge read at scrape time (ring fill, journal sequence, connections...).
     */
    public void gauge(final String name, final String help, final DoubleSupplier value)
    {
        GaugeWithCallback.builder().name(name).help(help).callback(cb -> cb.call(value.getAsDouble()))
            .register(registry);
    }

    /**
     * Adds a gauge of value 1 whose label says a setting, e.g. {@code ledger_threading{mode="shared"} 1}.
     */
    public void info(final String name, final String help, final String label, final String value)
    {
        GaugeWithCallback.builder().name(name).help(help).labelNames(label).callback(cb -> cb.call(1, value))
            .register(registry);
    }

    /**
     * Reply thread: one answered request.
     */
    void result(final Op op, final ResultCode code, final long latencyNanos)
    {
        results[op.ordinal()][code.ordinal()].inc();
        latency.recordValue(Math.min(Math.max(latencyNanos, 0), TimeUnit.SECONDS.toNanos(60)));
    }

    void badFrame(final BadFrame kind)
    {
        badFrames[kind.ordinal()].inc();
    }

    void connectionClosed(final Close reason)
    {
        closes[reason.ordinal()].inc();
    }

    public long connectionsClosed(final Close reason)
    {
        return closes[reason.ordinal()].getLongValue();
    }

    void connectionOpened()
    {
        connectionsOpened.inc();
    }

    void connectionRefused()
    {
        connectionsRefused.inc();
    }

    public long connectionsOpened()
    {
        return connectionsOpened.getLongValue();
    }

    public long connectionsRefused()
    {
        return connectionsRefused.getLongValue();
    }

    public long badFrames(final BadFrame kind)
    {
        return badFrames[kind.ordinal()].getLongValue();
    }

    public long results(final Op op, final ResultCode code)
    {
        return results[op.ordinal()][code.ordinal()].getLongValue();
    }

    /**
     * Writes every metric in Prometheus text format.
     */
    public void write(final OutputStream out) throws IOException
    {
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
    }

    private synchronized Histogram latencySnapshot()
    {
        interval = latency.getIntervalHistogram(interval);
        return interval;
    }
}
