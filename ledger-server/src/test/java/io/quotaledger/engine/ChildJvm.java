package io.quotaledger.engine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A test's own JVM running a main class from the test class path, with the project's JVM flags
 * (scripts/jvm.options): for what one test JVM cannot show, a kill -9, a small heap or a process that only a signal
 * stops. Its output is collected as it comes; only finished lines of standard output count.
 */
public final class ChildJvm implements AutoCloseable
{
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    private final Thread stdoutReader;
    private final Thread stderrReader;

    private ChildJvm(final Process process)
    {
        this.process = process;
        stdoutReader = reader(process.getInputStream(), in -> readLines(in, lines));
        stderrReader = reader(process.getErrorStream(), in -> readAll(in, stderr));
    }

    /**
     * @param jvmOptions options after the project's flags (heap size, compiler...).
     */
    public static ChildJvm start(final List<String> jvmOptions, final Class<?> main, final List<String> args)
        throws IOException
    {
        return start(jvmOptions, main, args, Map.of());
    }

    /**
     * @param jvmOptions  options after the project's flags (heap size, compiler...).
     * @param environment variables added to the child's environment.
     */
    public static ChildJvm start(
        final List<String> jvmOptions,
        final Class<?> main,
        final List<String> args,
        final Map<String, String> environment) throws IOException
    {
        final String java = ProcessHandle.current().info().command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        final List<String> command = new ArrayList<>();
        command.add(java);
        command.add("@" + projectRoot().resolve("scripts/jvm.options"));
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(args);
        final ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().putAll(environment);
        return new ChildJvm(builder.start());
    }

    /**
     * @return the first finished line of output starting with the prefix, once there is one.
     */
    public String awaitLine(final String prefix, final long timeoutMs) throws Exception
    {
        final long deadline = System.currentTimeMillis() + timeoutMs;
        int scanned = 0;
        while (true)
        {
            final boolean exited = !process.isAlive();
            if (exited)
            {
                joinReaders(); // what it printed before it exited is all in
            }
            synchronized (lines)
            {
                for (; scanned < lines.size(); scanned++)
                {
                    if (lines.get(scanned).startsWith(prefix))
                    {
                        return lines.get(scanned);
                    }
                }
            }
            if (exited)
            {
                fail("child exited with " + process.exitValue() + " before " + prefix + ":\n" + stderr());
            }
            if (System.currentTimeMillis() >= deadline)
            {
                kill();
                fail("child printed no " + prefix + " within " + timeoutMs + " ms:\n" + stderr());
            }
            Thread.sleep(5);
        }
    }

    /**
     * @return the lines the child finished (ending in a newline): a line cut by a kill was never seen whole.
     */
    public List<String> lines()
    {
        synchronized (lines)
        {
            return List.copyOf(lines);
        }
    }

    public String stderr()
    {
        synchronized (stderr)
        {
            return stderr.toString(StandardCharsets.UTF_8);
        }
    }

    /**
     * @return all it printed, for a failure message or a search: its finished lines, then its standard error.
     */
    public String output()
    {
        return String.join("\n", lines()) + "\n" + stderr();
    }

    public boolean isAlive()
    {
        return process.isAlive();
    }

    /**
     * @return the child's standard input.
     */
    public OutputStream stdin()
    {
        return process.getOutputStream();
    }

    /**
     * Waits for the child to exit by itself.
     *
     * @return its exit code.
     */
    public int await(final long timeoutMs) throws InterruptedException
    {
        assertTrue(process.waitFor(timeoutMs, TimeUnit.MILLISECONDS), "child did not exit:\n" + output());
        joinReaders();
        return process.exitValue();
    }

    /**
     * SIGTERM, as systemd or docker stop send it: shutdown hooks run.
     *
     * @return the exit code.
     */
    public int terminate(final long timeoutMs) throws InterruptedException
    {
        process.destroy();
        return await(timeoutMs);
    }

    /**
     * SIGKILL: no shutdown hook, no flush, no close.
     */
    public void kill() throws InterruptedException
    {
        process.destroyForcibly();
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "child survived SIGKILL");
        joinReaders();
    }

    public void close() throws InterruptedException
    {
        if (process.isAlive())
        {
            kill();
        }
    }

    /**
     * The project root (the folder holding scripts/jvm.options), for the child's JVM flags.
     */
    private static Path projectRoot()
    {
        final String fromMaven = System.getProperty("maven.multiModuleProjectDirectory");
        if (fromMaven != null && Files.exists(Path.of(fromMaven, "scripts", "jvm.options")))
        {
            return Path.of(fromMaven);
        }
        Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("scripts").resolve("jvm.options")))
        {
            dir = dir.getParent();
        }
        if (dir == null)
        {
            throw new IllegalStateException("scripts/jvm.options not found above " + System.getProperty("user.dir"));
        }
        return dir;
    }

    private void joinReaders() throws InterruptedException
    {
        stdoutReader.join(10_000);
        stderrReader.join(10_000);
    }

    /**
     * Splits what comes into lines as each is finished; an unfinished last line is left out.
     */
    private static void readLines(final InputStream in, final List<String> into) throws IOException
    {
        final ByteArrayOutputStream line = new ByteArrayOutputStream();
        final byte[] buffer = new byte[1 << 16];
        int read;
        while ((read = in.read(buffer)) >= 0)
        {
            int start = 0;
            for (int i = 0; i < read; i++)
            {
                if (buffer[i] == '\n')
                {
                    line.write(buffer, start, i - start);
                    synchronized (into)
                    {
                        into.add(line.toString(StandardCharsets.UTF_8));
                    }
                    line.reset();
                    start = i + 1;
                }
            }
            line.write(buffer, start, read - start);
        }
    }

    private static void readAll(final InputStream in, final ByteArrayOutputStream into) throws IOException
    {
        final byte[] buffer = new byte[1 << 16];
        int read;
        while ((read = in.read(buffer)) >= 0)
        {
            synchronized (into)
            {
                into.write(buffer, 0, read);
            }
        }
    }

    private interface Reading
    {
        void read(InputStream in) throws IOException;
    }

    private static Thread reader(final InputStream in, final Reading reading)
    {
        final Thread thread = new Thread(() ->
        {
            try (in)
            {
                reading.read(in);
            }
            catch (final IOException ex)
            {
                // the child is gone
            }
        }, "child-jvm-output");
        thread.setDaemon(true);
        thread.start();
        return thread;
    }
}
