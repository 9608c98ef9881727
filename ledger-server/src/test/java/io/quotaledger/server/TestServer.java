package io.quotaledger.server;

import com.lmax.disruptor.EventHandler;
import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerEvent;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.engine.Threading;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.Journals;
import io.quotaledger.protocol.Role;

import java.nio.file.Path;
import java.time.Duration;

/**
 * A whole ledger for tests: journal in a temporary directory, engine in the given threading mode, protocol server on
 * a free port, an admin and a gateway key. Public for the command line's tests.
 */
public final class TestServer implements AutoCloseable
{
    public final String adminKey = ApiKeys.generate();
    final String gatewayKey = ApiKeys.generate();
    final ServerMetrics metrics = new ServerMetrics();
    final LedgerServer server;
    final LedgerRuntime runtime;
    private boolean closed;

    /**
     * On a free port, whatever {@code config.port()} says.
     */
    TestServer(final Threading threading, final Path dir, final ServerConfig config) throws Exception
    {
        this(threading, dir, config.port(0), null);
    }

    /**
     * On {@code config.port()} as given (0 for a free one: a restart on the same directory can reuse the port), with
     * an optional engine stage after the journal (a {@link StallStage} to hold results back).
     */
    public TestServer(
        final Threading threading, final Path dir, final ServerConfig config, final EventHandler<LedgerEvent> stage)
        throws Exception
    {
        final Path keys = dir.resolve("keys");
        ApiKeys.append(keys, Role.ADMIN, adminKey, "test-admin");
        ApiKeys.append(keys, Role.GATEWAY, gatewayKey, "test-gateway");
        server = new LedgerServer(config, ApiKeys.load(keys), metrics);
        final EngineConfig engineConfig = new EngineConfig().ledger(new LedgerConfig().dedupeWindowCount(1 << 18))
            .threading(threading)
            .replyBatchEnd(server.replyBatchEnd());
        if (stage != null)
        {
            engineConfig.addStage(stage);
        }
        runtime = LedgerRuntime.start(
            new LedgerRuntime.Settings(new DataDir(dir), Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2),
            engineConfig);
        try
        {
            server.start(runtime.engine(), runtime.snapshotter()::snapshot);
        }
        catch (final Exception ex)
        {
            server.close();
            runtime.close(); // else the journal stays open on the directory
            throw ex;
        }
    }

    TestServer(final Threading threading, final Path dir) throws Exception
    {
        this(threading, dir, new ServerConfig());
    }

    public int port()
    {
        return server.port();
    }

    LedgerClient client(final String key)
    {
        return LedgerClient.connect(new ClientConfig().port(port()).apiKey(key).timeout(Duration.ofSeconds(2)));
    }

    /**
     * Closes server and runtime, once (LedgerServer.close() throws when called twice).
     */
    public void close()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        server.close();
        runtime.close();
    }
}
