package io.quotaledger.server;

import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.engine.ChildJvm;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.ResultCode;
import org.agrona.concurrent.UnsafeBuffer;
import io.quotaledger.engine.Threading;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Connections that come and go by the ten thousand, without a Hello, with one, and with one and a malformed frame,
 * against a ledger with a 96 MiB heap and the default network settings: the ledger keeps answering a well-behaved
 * gateway throughout and runs out of nothing. (Each connection used to take 256 KiB at once and to stay reachable
 * for the Hello timeout after closing: a few hundred of them filled this heap.)
 */
class ConnectionChurnTest
{
    private static final int PER_KIND = 10_000;
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;

    @TempDir
    Path dir;

    private enum Kind
    {
        SILENT, HELLO, HELLO_THEN_MALFORMED
    }

    @ParameterizedTest
    @EnumSource(Threading.class)
    void shouldKeepAnsweringAGatewayWhileTensOfThousandsOfConnectionsComeAndGoInASmallHeap(final Threading threading)
        throws Exception
    {
        try (ChildJvm child = ChildJvm.start(List.of("-Xmx96m", "-XX:+ExitOnOutOfMemoryError"), ChurnChild.class,
            List.of(dir.toString(), threading.name())))
        {
            final String[] ready = child.awaitLine("READY", 60_000).split(" ");
            final int port = Integer.parseInt(ready[1]);
            final String adminKey = ready[2];
            final String gatewayKey = ready[3];
            try (LedgerClient admin = connect(port, adminKey))
            {
                assertEquals(ResultCode.OK, admin.blocking().credit(UUID.randomUUID(), 1, 1_000).code());
            }

            final AtomicBoolean churning = new AtomicBoolean(true);
            final AtomicLong answers = new AtomicLong();
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            final CompletableFuture<Void> gateway = CompletableFuture.runAsync(() ->
            {
                try (LedgerClient client = connect(port, gatewayKey))
                {
                    while (churning.get())
                    {
                        final LedgerResult result = client.blocking().query(1, 0);
                        assertEquals(ResultCode.OK, result.code());
                        assertEquals(1_000, result.balance());
                        answers.incrementAndGet();
                        Thread.sleep(2);
                    }
                }
                catch (final Throwable ex)
                {
                    failure.set(ex);
                }
            });

            final long started = System.nanoTime();
            final List<Thread> churners = new ArrayList<>();
            final AtomicLong connected = new AtomicLong();
            for (final Kind kind : Kind.values())
            {
                final Thread churner = new Thread(() -> churn(port, gatewayKey, kind, connected, churning),
                    "churn-" + kind);
                churner.setDaemon(true);
                churner.start();
                churners.add(churner);
            }
            for (final Thread churner : churners)
            {
                churner.join(TimeUnit.SECONDS.toMillis(60));
            }
            churning.set(false);
            gateway.get(30, TimeUnit.SECONDS);
            final long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);

            assertNull(failure.get(), () -> "the gateway was not answered: " + failure.get() + "\n" + report(child));
            assertTrue(child.isAlive(), () -> "the ledger died:\n" + report(child));
            assertTrue(connected.get() >= Kind.values().length * PER_KIND * 9L / 10,
                connected.get() + " connections in " + millis + " ms");
            assertTrue(answers.get() > 0);
            try (LedgerClient client = connect(port, gatewayKey))
            {
                assertEquals(1_000, client.blocking().query(1, 0).balance());
            }

            child.stdin().close();
            final String[] stats = child.awaitLine("STATS", 30_000).split(" ");
            assertEquals(0, child.await(30_000));
            assertFalse(report(child).contains("OutOfMemoryError"), report(child));
            System.out.printf("churn: %,d connections in %,d ms (the ledger accepted %s), %,d gateway answers " +
                "meanwhile%n", connected.get(), millis, stats[1], answers.get());
        }
    }

    private static String report(final ChildJvm child)
    {
        return "ledger " + (child.isAlive() ? "running" : "exited") + "; its output:\n" + child.output();
    }

    private static LedgerClient connect(final int port, final String key)
    {
        return LedgerClient.connect(new ClientConfig().port(port).apiKey(key).timeout(Duration.ofSeconds(2))
            .connectTimeout(Duration.ofSeconds(5)));
    }

    /**
     * Opens and closes connections of one kind, as fast as one thread can. Each ends in a reset (SO_LINGER 0), as a
     * client that is simply gone would, and so that no port waits in TIME_WAIT.
     */
    private static void churn(
        final int port, final String gatewayKey, final Kind kind, final AtomicLong connected, final AtomicBoolean on)
    {
        final byte[] hello = Frames.hello(gatewayKey);
        final byte[] helloThenMalformed = new byte[hello.length + 4 + 8];
        System.arraycopy(hello, 0, helloThenMalformed, 0, hello.length);
        new UnsafeBuffer(helloThenMalformed).putInt(hello.length, 8, ByteOrder.LITTLE_ENDIAN); // shorter than any frame
        final byte[] answer = new byte[4 + HEADER + 12];
        for (int i = 0; i < PER_KIND && on.get(); i++)
        {
            try (Socket socket = new Socket())
            {
                socket.setSoLinger(true, 0);
                socket.setSoTimeout(5_000);
                socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
                connected.incrementAndGet();
                if (kind != Kind.SILENT)
                {
                    final OutputStream out = socket.getOutputStream();
                    out.write(kind == Kind.HELLO ? hello : helloThenMalformed);
                    out.flush();
                    new DataInputStream(socket.getInputStream()).readFully(answer); // the HelloResult
                }
            }
            catch (final IOException ex)
            {
                // refused or reset under load: the next one tries again
            }
        }
    }
}
