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
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A test's own JVM running a main class from the test class path, with the project's JVM flags
 * (scripts/jvm.options): for what one test JVM cannot show, a kill -9 or a small heap. Its output is collected as it
 * comes; only finished lines count.
 */
public final class ChildJvm implements AutoCloseable
{
    private final Process process;
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    private final Thread stdoutReader;
    private final Thread stderrReader;

    private ChildJvm(final Process process)
    {
        this.process = process;
        stdoutReader = drain(process.getInputStream(), stdout);
        stderrReader = drain(process.getErrorStream(), stderr);
    }

    /**
     * @param jvmOptions options after the project's flags (heap size, compiler...).
     */
    public static ChildJvm start(final List<String> jvmOptions, final Class<?> main, final List<String> args)
        throws IOException
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
        return new ChildJvm(new ProcessBuilder(command).start());
    }

    /**
     * @return the first finished line of output starting with the prefix, once there is one.
     */
    public String awaitLine(final String prefix, final long timeoutMs) throws Exception
    {
        final long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline)
        {
            for (final String line : lines())
            {
                if (line.startsWith(prefix))
                {
                    return line;
                }
            }
            if (!process.isAlive())
            {
                stdoutReader.join();
                stderrReader.join();
                fail("child exited with " + process.exitValue() + " before " + prefix + ":\n" + stderr());
            }
            Thread.sleep(5);
        }
        kill();
        fail("child printed no " + prefix + " within " + timeoutMs + " ms:\n" + stderr());
        return null;
    }

    /**
     * @return the lines the child finished (ending in a newline): a line cut by a kill was never seen whole.
     */
    public List<String> lines()
    {
        final String all = text(stdout);
        final int end = all.lastIndexOf('\n');
        return end < 0 ? List.of() : List.of(all.substring(0, end).split("\n"));
    }

    public String stderr()
    {
        return text(stderr);
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
        assertTrue(process.waitFor(timeoutMs, TimeUnit.MILLISECONDS), "child did not exit:\n" + stderr());
        stdoutReader.join(10_000);
        stderrReader.join(10_000);
        return process.exitValue();
    }

    /**
     * SIGKILL: no shutdown hook, no flush, no close.
     */
    public void kill() throws InterruptedException
    {
        process.destroyForcibly();
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "child survived SIGKILL");
        stdoutReader.join(10_000);
        stderrReader.join(10_000);
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
    public static Path projectRoot()
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

    private static String text(final ByteArrayOutputStream bytes)
    {
        synchronized (bytes)
        {
            return bytes.toString(StandardCharsets.US_ASCII);
        }
    }

    private static Thread drain(final InputStream in, final ByteArrayOutputStream into)
    {
        final Thread thread = new Thread(() ->
        {
            final byte[] buffer = new byte[1 << 16];
            try (in)
            {
                int read;
                while ((read = in.read(buffer)) >= 0)
                {
                    synchronized (into)
                    {
                        into.write(buffer, 0, read);
                    }
                }
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
