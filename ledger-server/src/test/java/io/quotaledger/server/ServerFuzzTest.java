package io.quotaledger.server;

import io.netty.buffer.PooledByteBufAllocator;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.DeductEncoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.QueryEncoder;
import io.quotaledger.protocol.ReleaseEncoder;
import io.quotaledger.protocol.ReserveEncoder;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.SettleEncoder;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad input from some connections never disturbs the state or the other connections.
 */
@ParameterizedClass
@EnumSource(Threading.class)
class ServerFuzzTest
{
    private static final long UNKNOWN_USER = 0x7777_0000_0000_0001L; // no mutation of one byte reaches users 1..20

    @Parameter
    Threading threading;

    @TempDir
    Path dir;

    private static long checksum(final TestServer ledger) throws Exception
    {
        final CompletableFuture<Long> checksum = new CompletableFuture<>();
        ledger.runtime.engine().requestState((ledgerState, sequence, timestamp) ->
            checksum.complete(ledgerState.checksum()));
        return checksum.get(10, TimeUnit.SECONDS);
    }

    /**
     * A valid frame of a random kind that cannot change the state: unknown user, unknown hold, or a query.
     */
    private static byte[] harmless(final SplittableRandom random)
    {
        final MessageHeaderEncoder header = new MessageHeaderEncoder();
        final int kind = random.nextInt(5);
        final int block = switch (kind)
        {
            case 0 -> DeductEncoder.BLOCK_LENGTH;
            case 1 -> ReserveEncoder.BLOCK_LENGTH;
            case 2 -> SettleEncoder.BLOCK_LENGTH;
            case 3 -> ReleaseEncoder.BLOCK_LENGTH;
            default -> QueryEncoder.BLOCK_LENGTH;
        };
        final byte[] frame = new byte[4 + MessageHeaderEncoder.ENCODED_LENGTH + block];
        final UnsafeBuffer buffer = new UnsafeBuffer(frame);
        buffer.putInt(0, frame.length - 4, ByteOrder.LITTLE_ENDIAN);
        switch (kind)
        {
            case 0 ->
            {
                final DeductEncoder e = new DeductEncoder().wrapAndApplyHeader(buffer, 4, header).correlationId(7);
                e.requestId().hi(random.nextLong()).lo(random.nextLong());
                e.userId(UNKNOWN_USER).serviceId(1).amount(random.nextLong());
            }
            case 1 ->
            {
                final ReserveEncoder e = new ReserveEncoder().wrapAndApplyHeader(buffer, 4, header).correlationId(7);
                e.requestId().hi(random.nextLong()).lo(random.nextLong());
                e.userId(UNKNOWN_USER).serviceId(1).amount(5).ttlMillis(1000);
            }
            case 2 ->
            {
                final SettleEncoder e = new SettleEncoder().wrapAndApplyHeader(buffer, 4, header).correlationId(7);
                e.requestId().hi(random.nextLong()).lo(random.nextLong());
                e.holdId().hi(random.nextLong()).lo(random.nextLong());
                e.actual(random.nextLong());
            }
            case 3 ->
            {
                final ReleaseEncoder e = new ReleaseEncoder().wrapAndApplyHeader(buffer, 4, header).correlationId(7);
                e.requestId().hi(random.nextLong()).lo(random.nextLong());
                e.holdId().hi(random.nextLong()).lo(random.nextLong());
            }
            default -> new QueryEncoder().wrapAndApplyHeader(buffer, 4, header).correlationId(7)
                .userId(random.nextInt(30)).serviceId(random.nextInt(3));
        }
        return frame;
    }

    /**
     * A frame with a correct length prefix but bad content: a harmless frame with one to four random bytes changed in
     * its header or correlation id (never the user id), a truncated or padded one, or random bytes. The stream stays
     * in step, so the server answers each and the connection lives on.
     */
    private static byte[] mutated(final SplittableRandom random)
    {
        final byte[] frame;
        switch (random.nextInt(6))
        {
            case 0 ->
            {
                frame = new byte[4 + 16 + random.nextInt(100)];
                random.nextBytes(frame);
            }
            case 1 ->
            {
                final byte[] valid = harmless(random);
                frame = java.util.Arrays.copyOf(valid, Math.max(20, valid.length - 1 - random.nextInt(20)));
            }
            case 2 -> frame = java.util.Arrays.copyOf(harmless(random), 80 + random.nextInt(40));
            default ->
            {
                frame = harmless(random);
                final int mutations = 1 + random.nextInt(4);
                for (int i = 0; i < mutations; i++)
                {
                    frame[4 + random.nextInt(16)] = (byte)random.nextInt(256); // header and correlation id
                }
            }
        }
        new UnsafeBuffer(frame).putInt(0, frame.length - 4, ByteOrder.LITTLE_ENDIAN);
        return frame;
    }

    /**
     * Bytes that put the stream out of step (a length out of range, or random bytes): the server must close.
     */
    private static byte[] streamBreaker(final SplittableRandom random)
    {
        final byte[] bytes = new byte[4 + random.nextInt(64)];
        random.nextBytes(bytes);
        if (random.nextBoolean())
        {
            new UnsafeBuffer(bytes).putInt(0, random.nextBoolean() ? random.nextInt(16) : 5_000 + random.nextInt(
                Integer.MAX_VALUE - 5_000), ByteOrder.LITTLE_ENDIAN);
        }
        return bytes;
    }

    @Test
    void shouldSurviveHundredThousandBadFramesWithStateAndOtherClientsUntouched() throws Exception
    {
        try (TestServer ledger = new TestServer(threading, dir))
        {
            try (LedgerClient admin = ledger.client(ledger.adminKey))
            {
                for (long user = 1; user <= 20; user++)
                {
                    admin.blocking().credit(UUID.randomUUID(), user, 1_000 * user);
                }
            }
            final long before = checksum(ledger);

            // a well-behaved gateway keeps querying while the fuzzers run: every answer must be right
            final AtomicBoolean fuzzing = new AtomicBoolean(true);
            final AtomicLong goodAnswers = new AtomicLong();
            final CompletableFuture<Void> good = CompletableFuture.runAsync(() ->
            {
                try (LedgerClient gateway = ledger.client(ledger.gatewayKey))
                {
                    long user = 1;
                    while (fuzzing.get())
                    {
                        final LedgerResult result = gateway.blocking().query(user, 0);
                        assertEquals(ResultCode.OK, result.code());
                        assertEquals(1_000 * user, result.balance());
                        goodAnswers.incrementAndGet();
                        user = user % 20 + 1;
                    }
                }
            });

            final long seed = System.nanoTime();
            final SplittableRandom random = new SplittableRandom(seed);
            final int target = 100_000;
            int sent = 0;
            int connections = 0;
            while (sent < target)
            {
                connections++;
                try (Socket socket = new Socket("127.0.0.1", ledger.port()))
                {
                    socket.setSoTimeout(5_000);
                    final OutputStream out = socket.getOutputStream();
                    drain(socket.getInputStream());
                    final boolean authenticated = random.nextInt(10) != 0;
                    if (authenticated)
                    {
                        out.write(Frames.hello(ledger.gatewayKey)); // most fuzz comes from an authenticated connection
                    }
                    final int frames = authenticated ? 2_000 + random.nextInt(3_000) : 1 + random.nextInt(3);
                    for (int i = 0; i < frames && sent < target; i++)
                    {
                        out.write(random.nextInt(4) == 0 ? harmless(random) : mutated(random));
                        sent++;
                    }
                    out.write(streamBreaker(random));
                    sent++;
                    out.flush();
                    Thread.sleep(20); // let the server read it all before the close
                }
                catch (final IOException ex)
                {
                    // the server closed a connection whose stream it could no longer trust: expected
                }
            }
            fuzzing.set(false);
            good.get(30, TimeUnit.SECONDS);

            assertTrue(goodAnswers.get() > 0, "seed " + seed);
            assertEquals(before, checksum(ledger), "state unchanged by " + sent + " bad frames, seed " + seed);
            long refused = 0;
            for (final ServerMetrics.BadFrame kind : ServerMetrics.BadFrame.values())
            {
                refused += ledger.metrics.badFrames(kind);
            }
            assertTrue(refused > sent / 4, "bad frames are counted: " + refused + " of " + sent);
            assertEquals(0, ledger.runtime.engine().internalErrors());
            System.out.printf("fuzz: %,d frames over %,d connections, %,d refused, %,d good answers meanwhile%n",
                sent, connections, refused, goodAnswers.get());
        }
    }

    @Test
    void shouldNotGrowMemoryForAClientThatStopsReading() throws Exception
    {
        try (TestServer ledger = new TestServer(threading, dir, new ServerConfig().maxInFlight(1024)))
        {
            final long directBefore = PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory();
            final AtomicLong written = new AtomicLong();
            final SplittableRandom random = new SplittableRandom(1);
            try (Socket socket = new Socket("127.0.0.1", ledger.port()))
            {
                socket.setSendBufferSize(64 * 1024);
                socket.setReceiveBufferSize(64 * 1024);
                final OutputStream out = socket.getOutputStream();
                out.write(Frames.hello(ledger.gatewayKey));
                final Thread writer = new Thread(() ->
                {
                    try
                    {
                        while (!Thread.currentThread().isInterrupted())
                        {
                            final byte[] frame = harmless(random);
                            out.write(frame);
                            written.addAndGet(frame.length);
                        }
                    }
                    catch (final IOException ex)
                    {
                        // closed at the end of the test
                    }
                });
                writer.setDaemon(true);
                writer.start();
                // never reading a single result: once the socket buffers are full, the server stops reading it
                long stalledAt = -1;
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (System.nanoTime() < deadline)
                {
                    final long before = written.get();
                    Thread.sleep(1_000);
                    if (written.get() == before)
                    {
                        stalledAt = before;
                        break;
                    }
                }
                final long directDuring = PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory();
                assertTrue(stalledAt > 0, "the client's writes block: the server stopped reading it");
                assertTrue(directDuring - directBefore < 32L << 20,
                    "server direct memory grew by " + ((directDuring - directBefore) >> 20) + " MiB");

                // the server is fine for everybody else
                try (LedgerClient admin = ledger.client(ledger.adminKey))
                {
                    assertEquals(ResultCode.OK, admin.blocking().credit(UUID.randomUUID(), 1, 5).code());
                }
                writer.interrupt();
            }
        }
    }

    private static void drain(final InputStream in)
    {
        final Thread reader = new Thread(() ->
        {
            final byte[] sink = new byte[8192];
            try
            {
                while (in.read(sink) >= 0)
                {
                    // results of the fuzz frames are not checked, only read so the server can write them
                }
            }
            catch (final IOException ex)
            {
                // closed
            }
        });
        reader.setDaemon(true);
        reader.start();
    }
}
