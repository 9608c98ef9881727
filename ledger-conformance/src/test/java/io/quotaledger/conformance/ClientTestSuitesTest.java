package io.quotaledger.conformance;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Go and Python clients' own test suites and their example gateways, run by the Maven build so that CI (which
 * runs `mvn test`) runs them: codecs that drifted from the schema, a broken retry or a broken example fail the build.
 * They start their ledgers from this JVM's class path (LEDGER_CLASSPATH), since `mvn test` packages no jar.
 */
class ClientTestSuitesTest
{
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final long TIMEOUT_MINUTES = 8;

    @TempDir
    Path temp;

    @Test
    void shouldPassTheGoClientsTests() throws Exception
    {
        run(List.of("go", "test", "-count=1", "-v", "./..."), ROOT.resolve("clients/go"));
    }

    @Test
    void shouldPassTheGoExampleGatewaysTests() throws Exception
    {
        run(List.of("go", "test", "-count=1", "-v", "./..."), ROOT.resolve("examples/go"));
    }

    @Test
    void shouldPassThePythonClientsTests() throws Exception
    {
        run(List.of("python3", "-m", "unittest", "discover", "-v", "-s", "tests"),
            ROOT.resolve("clients/python"));
    }

    @Test
    void shouldPassThePythonExampleGatewaysTests() throws Exception
    {
        run(List.of("python3", "-m", "unittest", "discover", "-v", "-s", ".", "-p", "test_*.py"),
            ROOT.resolve("examples/python"));
    }

    private void run(final List<String> command, final Path directory) throws IOException, InterruptedException
    {
        assertTrue(Files.isDirectory(directory), "missing: " + directory);
        final Path log = temp.resolve("output.txt");
        final ProcessBuilder builder = new ProcessBuilder(command).directory(directory.toFile())
            .redirectErrorStream(true).redirectOutput(log.toFile());
        final Map<String, String> environment = builder.environment();
        environment.put("LEDGER_JAVA", Harness.java());
        environment.put("LEDGER_CLASSPATH", Harness.classPath());
        final Process process;
        try
        {
            process = builder.start();
        }
        catch (final IOException ex)
        {
            throw new AssertionError(command.get(0) + " is not installed (.ci/run installs Debian's golang-go and " +
                "python3 when missing)", ex);
        }
        if (!process.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES))
        {
            process.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " in " + directory + " ran over " +
                TIMEOUT_MINUTES + " minutes:\n" + Files.readString(log));
        }
        final String output = Files.readString(log);
        System.out.println(String.join(" ", command) + " in " + directory + ":\n" + output);
        assertEquals(0, process.exitValue(), String.join(" ", command) + " in " + directory + " failed:\n" + output);
        // both clients' live tests skip with this hint when they find no ledger to start: here they must find one
        assertTrue(!output.contains("scripts/ledger --help` once"), "skipped for want of a ledger:\n" + output);
    }
}
