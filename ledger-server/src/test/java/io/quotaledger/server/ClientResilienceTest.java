package io.quotaledger.server;

import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerClientException;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.client.RequestIds;
import io.quotaledger.client.ResultHandler;
import io.quotaledger.client.ResultView;
import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The client's promises: requests survive a server restart, a retry never charges twice, a request with no answer
 * fails after its attempts, a refused key stops the client, and closing it fails what is pending; in the callback
 * form too, where one handler hears of every request exactly once, by its request id.
 */
@ParameterizedClass
@EnumSource(Threading.class)
class ClientResilienceTest
{
    private static final long USER = 1;
    private static final int SERVICE = 1;

    @Parameter
    Threading threading;

    @TempDir
    Path dir;

    static int freePort() throws Exception
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return socket.getLocalPort();
        }
    }

    private static ClientConfig config(final int port, final String key)
    {
        return new ClientConfig().port(port).apiKey(key).reconnectBackoff(Duration.ofMillis(20));
    }

    private static ExecutionException failure(final CompletableFuture<LedgerResult> future)
    {
        return assertThrows(ExecutionException.class, () -> future.get(10, TimeUnit.SECONDS));
    }

    /**
     * Keeps what it is told, by request id (low half).
     */
    static final class Recorder implements ResultHandler
    {
        final ConcurrentHashMap<Long, List<LedgerResult>> results = new ConcurrentHashMap<>();
        final ConcurrentHashMap<Long, Throwable> failures = new ConcurrentHashMap<>();
        final ConcurrentLinkedQueue<Thread> failureThreads = new ConcurrentLinkedQueue<>();

        public void onResult(final ResultView result)
        {
            results.computeIfAbsent(result.requestIdLo(), k -> new java.util.concurrent.CopyOnWriteArrayList<>())
                .add(result.toResult());
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
            failures.put(requestIdLo, cause);
            failureThreads.add(Thread.currentThread());
        }

        void awaitAnswers(final int count) throws InterruptedException
        {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (results.size() + failures.size() < count && System.nanoTime() < deadline)
            {
                Thread.sleep(5);
            }
            assertEquals(count, results.size() + failures.size(), "answered or failed: " + results + failures);
        }
    }

    @Test
    void shouldCompletePendingRequestsAfterARestartAndAnswerAnAppliedOneAsDuplicate() throws Exception
    {
        final int port = freePort();
        final StallStage stall = new StallStage();
        final TestServer first = new TestServer(threading, dir, new ServerConfig().port(port), stall);
        boolean firstClosed = false;
        TestServer second = null;
        try (LedgerClient client = LedgerClient.connect(config(port, first.adminKey)
            .timeout(Duration.ofSeconds(1)).attempts(10)))
        {
            assertTrue(client.blocking().credit(UUID.randomUUID(), USER, 1_000).ok());

            // applied and journaled, its result held back until the server closes: lost with the server (in shared
            // threading the stall holds the server's own thread too, so the close waits for the release)
            stall.hold();
            final CompletableFuture<LedgerResult> applied = client.deduct(UUID.randomUUID(), USER, SERVICE, 100);
            stall.awaitWaiting(1, 5_000);
            final CompletableFuture<Void> closing = CompletableFuture.runAsync(first.server::close);
            while (!first.server.closing())
            {
                Thread.sleep(1);
            }
            stall.release();
            closing.get(10, TimeUnit.SECONDS);
            first.runtime.close();
            firstClosed = true;

            final CompletableFuture<LedgerResult> sentWhileDown = client.deduct(UUID.randomUUID(), USER, SERVICE, 10);
            final CompletableFuture<LedgerResult> queryWhileDown = client.query(USER, 0);
            Thread.sleep(200);
            assertFalse(applied.isDone());
            assertFalse(sentWhileDown.isDone());
            assertEquals(3, client.inFlight());

            second = new TestServer(threading, dir, new ServerConfig().port(port), null);

            final LedgerResult retried = applied.get(10, TimeUnit.SECONDS);
            assertEquals(ResultCode.OK, retried.code());
            assertTrue(retried.duplicate(), "applied before the restart: the original result comes back");
            assertEquals(900, retried.balance());

            final LedgerResult fresh = sentWhileDown.get(10, TimeUnit.SECONDS);
            assertEquals(ResultCode.OK, fresh.code());
            assertFalse(fresh.duplicate());
            assertEquals(890, fresh.balance());
            assertEquals(890, queryWhileDown.get(10, TimeUnit.SECONDS).balance());

            assertEquals(890, client.blocking().query(USER, 0).balance(), "each deduct applied exactly once");
            assertEquals(0, client.inFlight());
        }
        finally
        {
            stall.release();
            if (!firstClosed)
            {
                first.close();
            }
            if (second != null)
            {
                second.close();
            }
        }
    }

    @Test
    void shouldRetryASlowRequestWithTheSameIdAndChargeOnlyOnce() throws Exception
    {
        final StallStage stall = new StallStage();
        try (TestServer ledger = new TestServer(threading, dir, new ServerConfig().port(0), stall);
            LedgerClient client = LedgerClient.connect(config(ledger.port(), ledger.adminKey)
                .timeout(Duration.ofMillis(300)).attempts(5)))
        {
            client.blocking().credit(UUID.randomUUID(), USER, 1_000);

            // the first answer comes after two timeouts: every request of the batch is sent about three times
            stall.delayNext(1, 800);
            final List<CompletableFuture<LedgerResult>> futures = new ArrayList<>();
            for (int i = 0; i < 20; i++)
            {
                futures.add(client.deduct(UUID.randomUUID(), USER, SERVICE, 5));
            }
            for (final CompletableFuture<LedgerResult> future : futures)
            {
                assertEquals(ResultCode.OK, future.get(10, TimeUnit.SECONDS).code());
            }

            assertEquals(900, client.blocking().query(USER, 0).balance(), "charged once per request id");
            final long answered = ledger.metrics.results(Op.DEDUCT, ResultCode.OK);
            assertTrue(answered >= 40, "the resends reached the ledger and were answered as duplicates: " + answered);
        }
    }

    @Test
    void shouldFailWithTimeoutAfterEveryAttemptWhenNoAnswerComes() throws Exception
    {
        final StallStage stall = new StallStage();
        try (TestServer ledger = new TestServer(threading, dir, new ServerConfig().port(0), stall);
            LedgerClient client = LedgerClient.connect(config(ledger.port(), ledger.adminKey)
                .timeout(Duration.ofMillis(200)).attempts(3)))
        {
            client.blocking().credit(UUID.randomUUID(), USER, 1_000);

            stall.hold();
            final long start = System.nanoTime();
            final CompletableFuture<LedgerResult> unanswered = client.deduct(UUID.randomUUID(), USER, SERVICE, 7);
            final ExecutionException failed = failure(unanswered);
            final long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

            assertInstanceOf(TimeoutException.class, failed.getCause());
            assertTrue(failed.getCause().getMessage().contains("after 3 attempts"), failed.getCause().getMessage());
            assertTrue(elapsedMillis >= 550, "three attempts of 200 ms each, took " + elapsedMillis + " ms");
            assertEquals(0, client.inFlight());

            // the blocking call reports the same as a client exception
            final LedgerClientException blocking = assertThrows(LedgerClientException.class,
                () -> client.blocking().deduct(UUID.randomUUID(), USER, SERVICE, 7));
            assertInstanceOf(TimeoutException.class, blocking.getCause());

            // all three copies of each request reach the ledger once it moves again: each is charged once
            stall.release();
            assertEquals(1_000 - 7 - 7, client.blocking().query(USER, 0).balance());
        }
        finally
        {
            stall.release();
        }
    }

    @Test
    void shouldRefuseABadKeyWithoutReconnecting() throws Exception
    {
        try (TestServer ledger = new TestServer(threading, dir))
        {
            final LedgerClientException refused = assertThrows(LedgerClientException.class,
                () -> LedgerClient.connect(config(ledger.port(), "qlk_not-a-key")));
            assertTrue(refused.getMessage().contains("UNAUTHENTICATED"), refused.getMessage());

            Thread.sleep(300); // backoff is 20 ms: a reconnecting client would have tried several times by now
            assertEquals(1, ledger.metrics.badFrames(ServerMetrics.BadFrame.UNAUTHENTICATED));
            assertEquals(0, ledger.server.connections());
        }
    }

    @Test
    void shouldFailPendingRequestsAndStopWhenTheKeyIsRevokedAcrossARestart() throws Exception
    {
        final int port = freePort();
        final TestServer first = new TestServer(threading, dir, new ServerConfig().port(port), null);
        final String revokedKey = first.adminKey;
        TestServer second = null;
        try (LedgerClient client = LedgerClient.connect(config(port, revokedKey).timeout(Duration.ofSeconds(2))))
        {
            assertTrue(client.blocking().credit(UUID.randomUUID(), USER, 1_000).ok());
            first.close();
            Files.delete(dir.resolve("keys")); // the restarted server knows only its own new keys

            final CompletableFuture<LedgerResult> pending = client.deduct(UUID.randomUUID(), USER, SERVICE, 10);
            second = new TestServer(threading, dir, new ServerConfig().port(port), null);

            final ExecutionException failed = failure(pending);
            assertInstanceOf(LedgerClientException.class, failed.getCause());
            assertTrue(failed.getCause().getMessage().contains("UNAUTHENTICATED"), failed.getCause().getMessage());

            Thread.sleep(300);
            assertEquals(1, second.metrics.badFrames(ServerMetrics.BadFrame.UNAUTHENTICATED), "no reconnect loop");
            assertTrue(client.deduct(USER, SERVICE, 1).isCompletedExceptionally(), "the client stays closed");
            try (LedgerClient admin = second.client(second.adminKey))
            {
                assertEquals(1_000, admin.blocking().query(USER, 0).balance(), "nothing charged");
            }
        }
        finally
        {
            first.close();
            if (second != null)
            {
                second.close();
            }
        }
    }

    @Test
    void shouldSendARequestOnceWhenNothingTimesOut() throws Exception
    {
        try (TestServer ledger = new TestServer(threading, dir))
        {
            for (int i = 0; i < 8; i++) // with the race, most rounds send twice: 8 clean rounds by luck are rare
            {
                final long before = ledger.metrics.results(Op.CREDIT, ResultCode.OK);
                try (LedgerClient client = LedgerClient.connect(config(ledger.port(), ledger.adminKey)))
                {
                    assertTrue(client.blocking().credit(UUID.randomUUID(), USER, 1).ok());
                    // answered after any second copy of the credit: the count below is complete
                    assertEquals(i + 1, client.blocking().query(USER, 0).balance());
                }
                assertEquals(1, ledger.metrics.results(Op.CREDIT, ResultCode.OK) - before, "answers in round " + i);
            }
        }
    }

    @Test
    void shouldAnswerRequestsSentBackToBackWithoutWaitingForARetry() throws Exception
    {
        // one attempt, so a frame written after the flush meant to carry it shows up as a timeout, not a slow retry
        try (TestServer ledger = new TestServer(threading, dir);
            LedgerClient client = LedgerClient.connect(config(ledger.port(), ledger.adminKey)
                .timeout(Duration.ofSeconds(5)).attempts(1)))
        {
            for (int round = 0; round < 200; round++)
            {
                final CompletableFuture<LedgerResult> credit = client.credit(UUID.randomUUID(), USER, 10);
                final CompletableFuture<LedgerResult> deduct = client.deduct(UUID.randomUUID(), USER, SERVICE, 1);
                final CompletableFuture<LedgerResult> query = client.query(USER, 0);
                assertTrue(credit.get(10, TimeUnit.SECONDS).ok(), "credit of round " + round);
                assertTrue(deduct.get(10, TimeUnit.SECONDS).ok(), "deduct of round " + round);
                assertEquals(9L * (round + 1), query.get(10, TimeUnit.SECONDS).balance(), "round " + round);
            }
        }
    }

    @Test
    void shouldFailPendingRequestsWhenClosed() throws Exception
    {
        final StallStage stall = new StallStage();
        try (TestServer ledger = new TestServer(threading, dir, new ServerConfig().port(0), stall))
        {
            final LedgerClient client = LedgerClient.connect(config(ledger.port(), ledger.adminKey));
            client.blocking().credit(UUID.randomUUID(), USER, 1_000);

            stall.hold();
            final CompletableFuture<LedgerResult> pending = client.deduct(UUID.randomUUID(), USER, SERVICE, 10);
            final CompletableFuture<LedgerResult> query = client.query(USER, 0);
            stall.awaitWaiting(1, 5_000);
            client.close();

            assertInstanceOf(LedgerClientException.class, failure(pending).getCause());
            assertInstanceOf(LedgerClientException.class, failure(query).getCause());
            assertEquals(0, client.inFlight());
            final ExecutionException afterClose = failure(client.deduct(USER, SERVICE, 1));
            assertTrue(afterClose.getCause().getMessage().contains("closed"), afterClose.getCause().getMessage());
            stall.release();
        }
        finally
        {
            stall.release();
        }
    }

    @Test
    void shouldAnswerEachCallbackOnceByItsRequestIdWhenRequestsAreResent() throws Exception
    {
        final StallStage stall = new StallStage();
        try (TestServer ledger = new TestServer(threading, dir, new ServerConfig().port(0), stall);
            LedgerClient client = LedgerClient.connect(config(ledger.port(), ledger.adminKey)
                .timeout(Duration.ofMillis(300)).attempts(5)))
        {
            client.blocking().credit(UUID.randomUUID(), USER, 1_000);
            final RequestIds ids = client.requestIds();
            final Recorder recorder = new Recorder();

            stall.delayNext(1, 800); // every request of the batch is sent about three times
            final long first = ids.nextLo();
            client.deduct(ids.hi(), first, USER, SERVICE, 5, recorder);
            for (int i = 1; i < 20; i++)
            {
                client.deduct(ids.hi(), ids.nextLo(), USER, SERVICE, 5, recorder);
            }
            recorder.awaitAnswers(20);

            assertTrue(recorder.failures.isEmpty(), recorder.failures.toString());
            for (int i = 0; i < 20; i++)
            {
                final List<LedgerResult> answers = recorder.results.get(first + i);
                assertEquals(1, answers.size(), "one answer for request " + i + ": " + answers);
                assertEquals(ResultCode.OK, answers.get(0).code());
                assertEquals(new UUID(ids.hi(), first + i), answers.get(0).requestId());
            }
            assertEquals(900, client.blocking().query(USER, 0).balance(), "charged once per request id");
            assertTrue(ledger.metrics.results(Op.DEDUCT, ResultCode.OK) >= 40, "the resends reached the ledger");
        }
    }

    @Test
    void shouldReportToTheCallbackWhatGetsNoResult() throws Exception
    {
        final StallStage stall = new StallStage();
        try (TestServer ledger = new TestServer(threading, dir, new ServerConfig().port(0), stall))
        {
            final LedgerClient client = LedgerClient.connect(config(ledger.port(), ledger.adminKey)
                .timeout(Duration.ofMillis(200)).attempts(2));
            client.blocking().credit(UUID.randomUUID(), USER, 1_000);
            final Recorder recorder = new Recorder();

            stall.hold();
            client.deduct(9, 1, USER, SERVICE, 7, recorder);
            recorder.awaitAnswers(1);
            assertInstanceOf(TimeoutException.class, recorder.failures.get(1L));
            assertTrue(recorder.failures.get(1L).getMessage().contains("after 2 attempts"));

            client.deduct(9, 2, USER, SERVICE, 7, recorder);
            client.close();
            recorder.awaitAnswers(2);
            assertInstanceOf(LedgerClientException.class, recorder.failures.get(2L), "pending when closed");

            client.deduct(9, 3, USER, SERVICE, 7, recorder);
            assertInstanceOf(LedgerClientException.class, recorder.failures.get(3L), "sent after close: at once");
            assertTrue(recorder.failures.get(3L).getMessage().contains("closed"));
            assertEquals(Thread.currentThread(), recorder.failureThreads.stream().reduce((a, b) -> b).orElseThrow(),
                "on the caller's thread");
            assertTrue(recorder.results.isEmpty());
            assertEquals(0, client.inFlight());
            stall.release();
        }
        finally
        {
            stall.release();
        }
    }

    @Test
    void shouldCarryOnWhenAHandlerThrows() throws Exception
    {
        final AtomicReference<Throwable> reported = new AtomicReference<>();
        final Thread.UncaughtExceptionHandler previous = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((thread, ex) -> reported.set(ex));
        try (TestServer ledger = new TestServer(threading, dir);
            LedgerClient client = LedgerClient.connect(config(ledger.port(), ledger.adminKey).attempts(1)))
        {
            client.blocking().credit(UUID.randomUUID(), USER, 1_000);
            final IllegalStateException bug = new IllegalStateException("a bug in the gateway's handler");
            client.deduct(3, 1, USER, SERVICE, 10, new ResultHandler()
            {
                public void onResult(final ResultView result)
                {
                    throw bug;
                }

                public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
                {
                }
            });
            final LedgerResult next = client.deduct(UUID.randomUUID(), USER, SERVICE, 10).get(10, TimeUnit.SECONDS);

            assertEquals(ResultCode.OK, next.code());
            assertFalse(next.duplicate(), "answered on the same connection, not resent after a reconnect");
            assertEquals(980, next.balance());
            assertEquals(bug, reported.get(), "reported to the I/O thread's uncaught-exception handler");
            assertEquals(1, ledger.server.connections());
        }
        finally
        {
            Thread.setDefaultUncaughtExceptionHandler(previous);
        }
    }

    @Test
    void shouldKeepThousandsOfRequestsInFlight() throws Exception
    {
        try (TestServer ledger = new TestServer(threading, dir);
            LedgerClient client = LedgerClient.connect(config(ledger.port(), ledger.adminKey)
                .timeout(Duration.ofSeconds(10))))
        {
            client.blocking().credit(UUID.randomUUID(), USER, 1_000_000);
            final List<CompletableFuture<LedgerResult>> futures = new ArrayList<>();
            for (int i = 0; i < 5_000; i++) // more than the client's first 1024 slots
            {
                futures.add(client.deduct(USER, SERVICE, 1));
            }
            for (final CompletableFuture<LedgerResult> future : futures)
            {
                assertEquals(ResultCode.OK, future.get(10, TimeUnit.SECONDS).code());
            }
            assertEquals(1_000_000 - 5_000, client.blocking().query(USER, 0).balance());
            assertEquals(0, client.inFlight());
        }
    }
}
