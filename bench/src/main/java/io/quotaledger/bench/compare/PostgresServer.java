package io.quotaledger.bench.compare;

import io.quotaledger.projector.EmbeddedDatabase;

import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The embedded PostgreSQL both SQL designs run on (the one the projector uses, with its data in a scratch folder),
 * restarted when a design asks for the other fsync setting.
 */
final class PostgresServer implements AutoCloseable
{
    private static final String[] SHOWN = {
        "server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers",
        "max_connections" };

    private final Path folder;
    private final int maxConnections;
    private EmbeddedDatabase database;
    private boolean fsync;

    PostgresServer(final Path folder, final int maxConnections)
    {
        this.folder = folder;
        this.maxConnections = maxConnections;
    }

    /**
     * Runs the server with {@code fsync} on or off, restarting it if it runs with the other setting.
     */
    void ensure(final boolean fsync) throws IOException
    {
        if (database != null && this.fsync == fsync)
        {
            return;
        }
        close();
        final String onOff = fsync ? "on" : "off";
        database = EmbeddedDatabase.start(folder, 0, Map.of(
            "fsync", onOff,
            "max_connections", Integer.toString(maxConnections)));
        this.fsync = fsync;
    }

    Connection connect() throws SQLException
    {
        // a stalled server fails the requests (counted as errors) instead of hanging the run
        return DriverManager.getConnection(database.jdbcUrl() + "?socketTimeout=60", database.superuser().user(),
            database.superuser().password());
    }

    /**
     * @return the settings that decide what a commit costs, as the server reports them.
     */
    List<String> settings() throws SQLException
    {
        final List<String> lines = new ArrayList<>();
        try (Connection connection = connect(); Statement statement = connection.createStatement())
        {
            for (final String name : SHOWN)
            {
                try (ResultSet rs = statement.executeQuery("SHOW " + name))
                {
                    rs.next();
                    lines.add(name + " = " + rs.getString(1));
                }
            }
        }
        return lines;
    }

    @Override
    public void close() throws IOException
    {
        if (database != null)
        {
            database.close();
            database = null;
        }
    }
}
