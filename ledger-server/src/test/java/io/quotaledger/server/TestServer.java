package io.quotaledger.server;

import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.engine.EngineConfig;
import io.quotaledger.engine.LedgerRuntime;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.Journals;
import io.quotaledger.protocol.Role;

import java.nio.file.Path;
import java.time.Duration;

/**
 * A whole ledger for tests: journal in a temporary directory, engine, protocol server on a free port, an admin and
 * a gateway key.
 */
final class TestServer implements AutoCloseable
{
    final String adminKey = ApiKeys.generate();
    final String gatewayKey = ApiKeys.generate();
    final ServerMetrics metrics = new ServerMetrics();
    final LedgerServer server;
    final LedgerRuntime runtime;

    TestServer(final Path dir, final ServerConfig config) throws Exception
    {
        final Path keys = dir.resolve("keys");
        ApiKeys.append(keys, Role.ADMIN, adminKey, "test-admin");
        ApiKeys.append(keys, Role.GATEWAY, gatewayKey, "test-gateway");
        server = new LedgerServer(config.port(0), ApiKeys.load(keys), metrics);
        runtime = LedgerRuntime.start(
            new LedgerRuntime.Settings(new DataDir(dir), Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ledger(new LedgerConfig().dedupeWindowCount(1 << 18))
                .replyBatchEnd(server.replyBatchEnd()));
        server.start(runtime.engine());
    }

    TestServer(final Path dir) throws Exception
    {
        this(dir, new ServerConfig());
    }

    int port()
    {
        return server.port();
    }

    LedgerClient client(final String key)
    {
        return LedgerClient.connect(new ClientConfig().port(port()).apiKey(key).timeout(Duration.ofSeconds(2)));
    }

    public void close()
    {
        server.close();
        runtime.close();
    }
}
