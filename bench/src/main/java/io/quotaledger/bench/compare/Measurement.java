package io.quotaledger.bench.compare;

import org.HdrHistogram.Histogram;

/**
 * The measured window of one {@link Phase}.
 *
 * @param mode     "closed" or "open".
 * @param rate     offered requests per second (open loop), 0 in the closed loop.
 * @param ok       charged requests answered.
 * @param rejected requests refused (for funds, or by a virtual key's budget or rate limit).
 * @param errors   errors and requests never answered.
 * @param dropped  open-loop requests due in the window but never sent: the system was too far behind.
 * @param arrived  answers that arrived in the window, whenever they were sent or due.
 * @param latency  nanoseconds; from send (closed) or due time (open) to the answer.
 */
record Measurement(String mode, double rate, int concurrency, double seconds, long ok, long rejected, long errors,
    long dropped, long arrived, Histogram latency)
{
    long answered()
    {
        return ok + rejected;
    }

    /** Answers per second in the window. */
    double throughput()
    {
        return answered() / seconds;
    }

    /** Latency at a percentile, in microseconds. */
    double micros(final double percentile)
    {
        return latency.getTotalCount() == 0 ? Double.NaN : latency.getValueAtPercentile(percentile) / 1e3;
    }

    double maxMicros()
    {
        return latency.getTotalCount() == 0 ? Double.NaN : latency.getMaxValue() / 1e3;
    }

    /**
     * The open loop kept up: none failed or was left unsent, and answers arrived in the window (almost) as fast as
     * they were due, not only later.
     */
    boolean sustained()
    {
        return errors == 0 && dropped == 0 && (rate == 0 || arrived / seconds >= 0.95 * rate);
    }
}
