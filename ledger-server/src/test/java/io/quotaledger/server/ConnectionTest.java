package io.quotaledger.server;

import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.local.LocalChannel;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The in-flight cap's pause and resume, with the I/O side on an event loop and the reply side on a thread of its
 * own, racing on every request: a resume that is missed leaves the connection paused with nothing in flight, and the
 * replies stop coming.
 */
class ConnectionTest
{
    private static final long REQUESTS = 200_000;

    @ParameterizedTest
    @ValueSource(ints = { 1, 2, 3, 4 })
    void shouldNeverMissTheResumeWhenAnswersRaceThePause(final int maxInFlight) throws Exception
    {
        final DefaultEventLoopGroup io = new DefaultEventLoopGroup(1);
        try
        {
            final LocalChannel channel = new LocalChannel();
            io.register(channel).sync();
            final Connection connection = new Connection(0, channel, maxInFlight, null);
            final AtomicLong handedOver = new AtomicLong(); // stands in for the engine: requests it may answer
            final long[] sent = new long[1];                 // the event loop's own
            // what RequestAdapter does: publish until the cap, and on a resume clear the pause and go on
            final Runnable drain = () ->
            {
                connection.resumeScheduled.set(false);
                if (connection.inFlight() < connection.maxInFlight())
                {
                    connection.pausedForInFlight = false;
                }
                while (sent[0] < REQUESTS && !connection.pauseIfFull())
                {
                    connection.published();
                    handedOver.lazySet(++sent[0]);
                }
            };
            connection.resumeTask = drain;
            io.execute(drain);

            long answered = 0;
            long lastProgress = System.nanoTime();
            while (answered < REQUESTS)
            {
                if (handedOver.get() > answered)
                {
                    connection.answered();
                    answered++;
                    lastProgress = System.nanoTime();
                }
                else if (System.nanoTime() - lastProgress > TimeUnit.SECONDS.toNanos(10))
                {
                    fail("stalled after " + answered + " answers: " + connection.inFlight() + " in flight, paused " +
                        connection.pausedForInFlight + ", resume scheduled " + connection.resumeScheduled.get());
                }
                else
                {
                    Thread.onSpinWait();
                }
            }
            io.submit(() -> { }).get(10, TimeUnit.SECONDS);
            assertEquals(0, connection.inFlight());
            assertEquals(REQUESTS, sent[0]);
        }
        finally
        {
            io.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
