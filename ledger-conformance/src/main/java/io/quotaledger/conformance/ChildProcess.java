package io.quotaledger.conformance;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A process the harness starts (the ledger, a runner), its output collected line by line as it comes so that it
 * never blocks on a full pipe. Closing it stops it and whatever it started ({@code go run} starts the runner it built).
 */
final class ChildProcess implements AutoCloseable
{
    /** Lines of standard error kept for a report: the last ones. */
    private static final int STDERR_LINES = 50;

    private final Process process;
    private final List<String> stdout = new ArrayList<>();
    private final List<String> stderr = new ArrayList<>();
    private final Thread stdoutReader;
    private final Thread stderrReader;

    private ChildProcess(final Process process)
    {
        this.process = process;
        stdoutReader = reader(process.getInputStream(), stdout, Integer.MAX_VALUE);
        stderrReader = reader(process.getErrorStream(), stderr, STDERR_LINES);
    }

    /**
     * @param command     the program and its arguments.
     * @param directory   where it runs.
     * @param environment variables added to the harness's own.
     * @param unset       variables of the harness's own it does not get.
     */
    static ChildProcess start(final List<String> command, final Path directory, final Map<String, String> environment,
        final List<String> unset) throws IOException
    {
        final ProcessBuilder builder = new ProcessBuilder(command).directory(directory.toFile());
        builder.environment().keySet().removeAll(unset);
        builder.environment().putAll(environment);
        builder.redirectInput(ProcessBuilder.Redirect.PIPE);
        final Process process = builder.start();
        process.getOutputStream().close(); // nothing to read: a runner waiting for input ends at once
        return new ChildProcess(process);
    }

    /**
     * @return the first line of standard output starting with the prefix, or null when the process exited or the
     * time ran out first.
     */
    String awaitLine(final String prefix, final long timeoutMillis) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        int scanned = 0;
        while (true)
        {
            final boolean exited = !process.isAlive();
            if (exited)
            {
                joinReaders();
            }
            synchronized (stdout)
            {
                for (; scanned < stdout.size(); scanned++)
                {
                    if (stdout.get(scanned).startsWith(prefix))
                    {
                        return stdout.get(scanned);
                    }
                }
            }
            if (exited || System.nanoTime() - deadline > 0)
            {
                return null;
            }
            Thread.sleep(10);
        }
    }

    /**
     * Waits for the process to exit by itself, and for the rest of its output.
     *
     * @return its exit code, or null when it did not exit in time (it is then still running: close it).
     */
    Integer await(final long timeoutMillis) throws InterruptedException
    {
        if (!process.waitFor(timeoutMillis, TimeUnit.MILLISECONDS))
        {
            return null;
        }
        joinReaders();
        return process.exitValue();
    }

    List<String> stdout()
    {
        synchronized (stdout)
        {
            return List.copyOf(stdout);
        }
    }

    List<String> stderr()
    {
        synchronized (stderr)
        {
            return List.copyOf(stderr);
        }
    }

    /**
     * SIGTERM to the process, then SIGKILL to it and to everything it started if it is still there after the grace
     * time.
     */
    void stop(final long graceMillis) throws InterruptedException
    {
        final List<ProcessHandle> descendants = process.descendants().toList();
        process.destroy();
        if (!process.waitFor(graceMillis, TimeUnit.MILLISECONDS))
        {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
        descendants.forEach(ProcessHandle::destroyForcibly);
        joinReaders();
    }

    /**
     * Kills what is still running: the process and what it started.
     */
    public void close()
    {
        if (process.isAlive() || process.descendants().findAny().isPresent())
        {
            try
            {
                stop(0);
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }
    }

    private void joinReaders() throws InterruptedException
    {
        stdoutReader.join(5_000);
        stderrReader.join(5_000);
    }

    private static Thread reader(final InputStream in, final List<String> into, final int keep)
    {
        final Thread thread = new Thread(() ->
        {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)))
            {
                String line;
                while ((line = lines.readLine()) != null)
                {
                    synchronized (into)
                    {
                        into.add(line);
                        if (into.size() > keep)
                        {
                            into.remove(0);
                        }
                    }
                }
            }
            catch (final IOException ex)
            {
                // the process is gone
            }
        }, "conformance-child-output");
        thread.setDaemon(true);
        thread.start();
        return thread;
    }
}
