package io.quotaledger.conformance;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.quotaledger.cli.LedgerCli;
import io.quotaledger.protocol.Role;
import io.quotaledger.server.ApiKeys;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The conformance suite's harness ({@code scripts/conformance}): starts {@code ledger serve} in a JVM of its own on
 * free ports with a fresh data directory and its own admin and gateway keys, runs each client's runner on
 * conformance/scenarios one after the other (each with its own id base), and prints one line per client and scenario
 * and a summary. Exit code 0 only when every client ran and passed every scenario; 1 otherwise; 2 for a usage error.
 */
@Command(
    name = "conformance",
    mixinStandardHelpOptions = true,
    description = {
        "Runs the conformance suite (conformance/scenarios) with every client against a `ledger serve` started for",
        "it: one line per client and scenario, then a summary. Exit code 0 only when every client passed every",
        "scenario. A client whose runner is not in the tree is MISSING, and fails the run unless --clients leaves",
        "it out." })
public final class Harness implements Callable<Integer>
{
    /** Every client of the suite, in the order they run. */
    public static final List<String> CLIENTS = List.of("java", "go", "python");
    /** Added to the ids of the scenarios: the client's position in {@link #CLIENTS} times this. */
    static final long BASE_STEP = 1_000_000;
    /** How long one runner may take, a Go build included. */
    private static final long RUNNER_TIMEOUT_MILLIS = 300_000;
    private static final long SERVE_START_MILLIS = 60_000;
    private static final Pattern SERVING = Pattern.compile("ledger serving (\\S+):(\\d+) ");
    private static final String GO_RUNNER = "clients/go/cmd/conformance";
    private static final String PYTHON_RUNNER = "clients/python/conformance.py";

    @Option(names = "--clients", split = ",", paramLabel = "CLIENT",
        description = "The clients to run, of java, go, python (default: all).")
    List<String> clients = CLIENTS;

    @Option(names = "--json", description = "Print one JSON object instead of lines.")
    boolean json;

    @Option(names = "--scenarios", paramLabel = "DIR",
        description = "The scenario files (default: conformance/scenarios of the project).")
    Path scenarios;

    @Option(names = "--root", paramLabel = "DIR",
        description = "The project's root (default: LEDGER_ROOT, else the first folder up from here holding " +
            "conformance/scenarios).")
    Path root;

    /**
     * What the suite came to.
     *
     * @param scenarios the scenario names, in order.
     * @param clients   one report per client asked for.
     */
    public record Report(List<String> scenarios, List<ClientReport> clients)
    {
        /**
         * @return every client ran, and passed every scenario.
         */
        public boolean passed()
        {
            return clients.stream().allMatch(client -> client.status() == ClientReport.Status.PASS);
        }

        /**
         * @return "conformance: PASS (java 17/17, go 17/17, python 17/17)", or FAIL with each client's count or
         * status.
         */
        public String summary()
        {
            final List<String> parts = new ArrayList<>();
            for (final ClientReport client : clients)
            {
                parts.add(client.client() + " " + (client.results().isEmpty() ? client.status().name() :
                    client.passed() + "/" + scenarios.size() +
                    (client.status() == ClientReport.Status.ERROR ? " ERROR" : "")));
            }
            return "conformance: " + (passed() ? "PASS" : "FAIL") + " (" + String.join(", ", parts) + ")";
        }

        /**
         * @return every line, the summary, then {@link #diagnostics()}.
         */
        public String text()
        {
            final StringBuilder text = new StringBuilder();
            clients.forEach(client -> client.lines().forEach(line -> text.append(line).append('\n')));
            return text.append(summary()).append('\n').append(diagnostics()).toString();
        }

        /**
         * @return the last lines of standard error of each runner that did not pass, to find out why.
         */
        public String diagnostics()
        {
            final StringBuilder text = new StringBuilder();
            for (final ClientReport client : clients)
            {
                if (client.status() != ClientReport.Status.PASS && !client.stderr().isEmpty())
                {
                    text.append("--- ").append(client.client()).append(" runner's standard error (last lines):\n");
                    client.stderr().forEach(line -> text.append("  ").append(line).append('\n'));
                }
            }
            return text.toString();
        }

        public String json()
        {
            final Map<String, Object> json = new LinkedHashMap<>();
            json.put("passed", passed());
            json.put("scenarios", scenarios);
            json.put("clients", clients);
            try
            {
                return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(json);
            }
            catch (final IOException ex)
            {
                throw new UncheckedIOException(ex);
            }
        }
    }

    public static void main(final String[] args)
    {
        System.exit(new CommandLine(new Harness()).execute(args));
    }

    public Integer call() throws Exception
    {
        for (final String client : clients)
        {
            if (!CLIENTS.contains(client))
            {
                System.err.println("conformance: --clients takes java, go and python, not '" + client + "'");
                return 2;
            }
        }
        final Path project;
        try
        {
            project = root != null ? root : findRoot();
        }
        catch (final IllegalStateException ex)
        {
            System.err.println("conformance: " + ex.getMessage());
            return 2;
        }
        final Path scenarioDir = scenarios != null ? scenarios : project.resolve("conformance/scenarios");
        if (!Files.isDirectory(scenarioDir))
        {
            System.err.println("conformance: no scenario directory " + scenarioDir);
            return 2;
        }
        final Report report = run(project, scenarioDir, clients, json ? null : System.out);
        if (json)
        {
            System.out.println(report.json());
        }
        else
        {
            System.out.println(report.summary());
            System.err.print(report.diagnostics());
        }
        return report.passed() ? 0 : 1;
    }

    /**
     * Runs the suite.
     *
     * @param projectRoot the project's root: scripts/jvm.options and the clients' runners.
     * @param scenarios   the scenario directory.
     * @param clients     the clients to run.
     * @param progress    where each client's lines go as soon as it is done, or null.
     */
    public static Report run(final Path projectRoot, final Path scenarios, final List<String> clients,
        final PrintStream progress) throws IOException, InterruptedException
    {
        final List<String> names = Scenario.files(List.of(scenarios)).stream().map(Scenario::nameOf).toList();
        final Path project = projectRoot.toAbsolutePath(); // the children run in other directories
        final Path scenarioDir = scenarios.toAbsolutePath();
        final Map<String, ClientReport> unable = new LinkedHashMap<>();
        final Map<String, List<String>> commands = new LinkedHashMap<>();
        for (final String client : clients)
        {
            try
            {
                commands.put(client, command(project, scenarioDir, client));
            }
            catch (final Unable ex)
            {
                unable.put(client, ClientReport.notRun(client, ex.status, ex.getMessage()));
            }
        }
        final List<ClientReport> reports = new ArrayList<>();
        if (names.isEmpty())
        {
            clients.forEach(client -> reports.add(ClientReport.notRun(client, ClientReport.Status.ERROR,
                "no scenario files in " + scenarios)));
            return new Report(names, reports);
        }
        final Path data = Files.createTempDirectory("ledger-conformance-");
        try (Ledger ledger = commands.isEmpty() ? null : Ledger.start(project, data))
        {
            for (final String client : clients)
            {
                final ClientReport report = unable.containsKey(client) ? unable.get(client) :
                    ledger.failure != null ? ClientReport.notRun(client, ClientReport.Status.ERROR, ledger.failure) :
                    runClient(client, commands.get(client), project, names, ledger);
                reports.add(report);
                if (progress != null)
                {
                    report.lines().forEach(progress::println);
                    progress.flush();
                }
            }
        }
        finally
        {
            delete(data);
        }
        return new Report(names, reports);
    }

    /**
     * A client that cannot run here.
     */
    private static final class Unable extends Exception
    {
        private static final long serialVersionUID = 1L;
        private final ClientReport.Status status;

        Unable(final ClientReport.Status status, final String message)
        {
            super(message);
            this.status = status;
        }
    }

    /**
     * @return the command that runs a client's runner on the scenarios.
     * @throws Unable MISSING when its runner is not in the tree, ERROR when its language is not installed.
     */
    private static List<String> command(final Path project, final Path scenarios, final String client)
        throws Unable
    {
        return switch (client)
        {
            case "java" -> List.of(java(), "@" + project.resolve("scripts/jvm.options"), "-Xmx256m",
                "-XX:TieredStopAtLevel=1", "-cp", classPath(), JavaRunner.class.getName(),
                scenarios.toString());
            case "go" ->
            {
                if (!Files.isDirectory(project.resolve(GO_RUNNER)))
                {
                    throw new Unable(ClientReport.Status.MISSING, "no " + GO_RUNNER);
                }
                yield List.of(executable("go", "go is not installed: install Debian's golang-go " +
                    "(apt-get install golang-go), or leave go out with --clients java,python"),
                    "run", "./cmd/conformance", scenarios.toString());
            }
            case "python" ->
            {
                if (!Files.isRegularFile(project.resolve(PYTHON_RUNNER)))
                {
                    throw new Unable(ClientReport.Status.MISSING, "no " + PYTHON_RUNNER);
                }
                yield List.of(executable("python3", "python3 is not installed: install Debian's python3 " +
                    "(apt-get install python3), or leave python out with --clients java,go"),
                    project.resolve(PYTHON_RUNNER).toString(), scenarios.toString());
            }
            default -> throw new IllegalArgumentException(client);
        };
    }

    private static ClientReport runClient(final String client, final List<String> command, final Path project,
        final List<String> names, final Ledger ledger) throws IOException, InterruptedException
    {
        final Map<String, String> environment = new LinkedHashMap<>();
        environment.put(RunnerEnvironment.HOST, "127.0.0.1");
        environment.put(RunnerEnvironment.PORT, Integer.toString(ledger.port));
        environment.put(RunnerEnvironment.ADMIN_KEY_FILE, ledger.adminKeyFile.toString());
        environment.put(RunnerEnvironment.GATEWAY_KEY_FILE, ledger.gatewayKeyFile.toString());
        environment.put(RunnerEnvironment.RUN_BASE, Long.toString(BASE_STEP * (CLIENTS.indexOf(client) + 1)));
        if (client.equals("go"))
        {
            environment.put("GOTOOLCHAIN", "local"); // the Go installed, never a download
        }
        if (client.equals("python"))
        {
            environment.put("PYTHONDONTWRITEBYTECODE", "1"); // no __pycache__ left in the tree
        }
        final Path directory = client.equals("go") ? project.resolve("clients/go") : project;
        try (ChildProcess runner = ChildProcess.start(command, directory, environment,
            List.of("LEDGER_TLS", "LEDGER_KEY")))
        {
            final Integer exitCode = runner.await(RUNNER_TIMEOUT_MILLIS);
            if (exitCode == null)
            {
                runner.stop(5_000);
            }
            return ClientReport.read(client, names, runner.stdout(), exitCode,
                "stopped after " + RUNNER_TIMEOUT_MILLIS / 1000 + " s", runner.stderr());
        }
    }

    /**
     * {@code ledger serve} in a JVM of its own, on free ports, with a data directory and keys of its own: the admin
     * key and a gateway key, made before it starts (it generates no key when the keys file exists).
     */
    private static final class Ledger implements AutoCloseable
    {
        private final ChildProcess serve;
        private final Path adminKeyFile;
        private final Path gatewayKeyFile;
        private int port;
        private String failure;

        private Ledger(final ChildProcess serve, final Path adminKeyFile, final Path gatewayKeyFile)
        {
            this.serve = serve;
            this.adminKeyFile = adminKeyFile;
            this.gatewayKeyFile = gatewayKeyFile;
        }

        static Ledger start(final Path project, final Path data) throws IOException, InterruptedException
        {
            final Path ledgerDir = data.resolve("ledger");
            final Path keys = ledgerDir.resolve("keys");
            final Path adminKeyFile = ledgerDir.resolve("admin.key");
            final Path gatewayKeyFile = data.resolve("gateway.key");
            final String adminKey = ApiKeys.generate();
            final String gatewayKey = ApiKeys.generate();
            ApiKeys.append(keys, Role.ADMIN, adminKey, "conformance-admin");
            ApiKeys.append(keys, Role.GATEWAY, gatewayKey, "conformance-gateway");
            ApiKeys.writeSecret(adminKeyFile, adminKey);
            ApiKeys.writeSecret(gatewayKeyFile, gatewayKey);
            final List<String> command = List.of(java(), "@" + project.resolve("scripts/jvm.options"),
                "-Xmx384m", "-XX:TieredStopAtLevel=1", "-cp", classPath(),
                LedgerCli.class.getName(), "serve", "--data", ledgerDir.toString(), "--port", "0",
                "--metrics-port", "0", "--no-projector", "--dedupe-window", "65536");
            final Ledger ledger = new Ledger(ChildProcess.start(command, data, Map.of(), List.of()), adminKeyFile,
                gatewayKeyFile);
            final String serving = ledger.serve.awaitLine("ledger serving", SERVE_START_MILLIS);
            final Matcher matcher = serving == null ? null : SERVING.matcher(serving);
            if (matcher == null || !matcher.find())
            {
                ledger.failure = "the ledger did not start: " + String.join(" | ", ledger.serve.stdout()) + " " +
                    String.join(" | ", ledger.serve.stderr());
            }
            else
            {
                ledger.port = Integer.parseInt(matcher.group(2));
            }
            return ledger;
        }

        /**
         * SIGTERM, as an operator stops it; SIGKILL when it takes longer than 20 s.
         */
        public void close()
        {
            try
            {
                serve.stop(20_000);
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                serve.close();
            }
        }
    }

    static String java()
    {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /**
     * @return this JVM's class path with absolute entries: the children run in other directories.
     */
    static String classPath()
    {
        final List<String> entries = new ArrayList<>();
        for (final String entry : System.getProperty("java.class.path").split(File.pathSeparator))
        {
            entries.add(Path.of(entry).toAbsolutePath().toString());
        }
        return String.join(File.pathSeparator, entries);
    }

    /**
     * @return the program's path on the PATH.
     * @throws Unable ERROR with the message when it is not there.
     */
    private static String executable(final String name, final String missing) throws Unable
    {
        final String path = System.getenv().getOrDefault("PATH", "");
        for (final String directory : path.split(File.pathSeparator))
        {
            if (!directory.isEmpty() && Files.isExecutable(Path.of(directory, name)))
            {
                return Path.of(directory, name).toString();
            }
        }
        throw new Unable(ClientReport.Status.ERROR, missing);
    }

    /**
     * @return LEDGER_ROOT, else the first folder from the working directory up that holds conformance/scenarios.
     * @throws IllegalStateException when there is none.
     */
    static Path findRoot()
    {
        final String fromEnvironment = System.getenv("LEDGER_ROOT");
        if (fromEnvironment != null && !fromEnvironment.isBlank())
        {
            return Path.of(fromEnvironment);
        }
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("conformance/scenarios")))
        {
            dir = dir.getParent();
        }
        if (dir == null)
        {
            throw new IllegalStateException("no conformance/scenarios above " + Path.of("").toAbsolutePath() +
                ": give --root or LEDGER_ROOT");
        }
        return dir;
    }

    private static void delete(final Path dir) throws IOException
    {
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path path : paths.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }
}
