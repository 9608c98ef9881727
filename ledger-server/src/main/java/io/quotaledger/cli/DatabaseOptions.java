package io.quotaledger.cli;

import io.quotaledger.journal.DataDir;
import io.quotaledger.projector.EmbeddedDatabase;
import io.quotaledger.projector.ProjectorStore;
import picocli.CommandLine.Option;

import java.io.IOException;

/**
 * Where the projection goes, for {@code serve} and {@code project}: the embedded PostgreSQL under DIR/postgres by
 * default, or an external one with {@code --jdbc-url}.
 */
final class DatabaseOptions
{
    @Option(names = "--jdbc-url", paramLabel = "URL",
        description = "External PostgreSQL for the projection (jdbc:postgresql://host:port/db) instead of the " +
            "embedded one under DIR/postgres.")
    String jdbcUrl;

    @Option(names = "--db-user", paramLabel = "USER",
        description = "User for --jdbc-url: one that owns the schema 'ledger', not a superuser (docs/analytics.md).")
    String user;

    @Option(names = "--db-password", paramLabel = "PASSWORD",
        description = "Password for --jdbc-url (or PGPASSWORD in the environment).")
    String password;

    @Option(names = "--db-port", paramLabel = "PORT", defaultValue = "0",
        description = "Port of the embedded PostgreSQL; 0: the one it used last time, or a free one (default: " +
            "${DEFAULT-VALUE}).")
    int port;

    /**
     * An opened projection database: the store, the embedded server when there is one, and the connection string to
     * show (the analysts' read-only role on the embedded server; the projector's URL without its query otherwise).
     */
    record Opened(ProjectorStore store, EmbeddedDatabase embedded, String connectionString) implements AutoCloseable
    {
        /**
         * @return how to connect, in psql form, with where the password is when the ledger keeps it.
         */
        String psql()
        {
            return embedded == null ? "psql '" + connectionString + "'" :
                "psql '" + connectionString + "' (read-only role; its password is in " + embedded.analyst().file() +
                ")";
        }

        public void close() throws IOException
        {
            store.close();
            if (embedded != null)
            {
                embedded.close();
            }
        }
    }

    /**
     * Starts the embedded PostgreSQL if no external one is named. The schema is brought up to date on first use, so
     * that an external database that is down now does not keep the ledger from starting.
     */
    Opened open(final DataDir dir) throws IOException
    {
        if (jdbcUrl != null)
        {
            final String secret = password != null ? password : System.getenv("PGPASSWORD");
            final int query = jdbcUrl.indexOf('?'); // never print a password given in the URL
            return new Opened(new ProjectorStore(jdbcUrl, user, secret), null,
                query < 0 ? jdbcUrl : jdbcUrl.substring(0, query));
        }
        final EmbeddedDatabase embedded = EmbeddedDatabase.start(dir.root().resolve("postgres"), port);
        final EmbeddedDatabase.Login projector = embedded.projector();
        return new Opened(new ProjectorStore(embedded.jdbcUrl(), projector.user(), projector.password()), embedded,
            embedded.connectionString());
    }
}
