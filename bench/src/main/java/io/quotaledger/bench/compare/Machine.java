package io.quotaledger.bench.compare;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * What the figures were measured on: CPU, cores, memory, kernel, JVM.
 */
final class Machine
{
    private Machine()
    {
    }

    static Map<String, String> describe()
    {
        final Map<String, String> machine = new LinkedHashMap<>();
        machine.put("cpu", cpuModel());
        machine.put("cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
        machine.put("memory", memory());
        machine.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " +
            System.getProperty("os.arch"));
        machine.put("jvm", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version") +
            " (" + System.getProperty("java.vendor") + ")");
        return machine;
    }

    /**
     * @return the checked-out commit of the project, with "+" when the tree has changes, or "unknown".
     */
    static String commit()
    {
        try
        {
            final Process git = new ProcessBuilder("git", "describe", "--always", "--dirty=+")
                .directory(projectRoot().toFile()).start();
            final String out = new String(git.getInputStream().readAllBytes()).strip();
            return git.waitFor() == 0 && !out.isEmpty() ? out : "unknown";
        }
        catch (final IOException | RuntimeException ex)
        {
            return "unknown";
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    /**
     * @return the version of a library on the class path, from the pom.properties Maven packs into its jar (and the
     * shaded benchmarks.jar keeps), or "?".
     */
    static String version(final String groupId, final String artifactId)
    {
        final String resource = "META-INF/maven/" + groupId + "/" + artifactId + "/pom.properties";
        try (InputStream in = Machine.class.getClassLoader().getResourceAsStream(resource))
        {
            if (in != null)
            {
                final Properties properties = new Properties();
                properties.load(in);
                return properties.getProperty("version", "?");
            }
        }
        catch (final IOException ex)
        {
            // unknown
        }
        return "?";
    }

    /**
     * @return the project's folder: {@code LEDGER_ROOT} (set by scripts/bench), else the working directory.
     */
    static Path projectRoot()
    {
        final String root = System.getenv("LEDGER_ROOT");
        return root == null || root.isBlank() ? Path.of("").toAbsolutePath() : Path.of(root);
    }

    private static String cpuModel()
    {
        try
        {
            for (final String line : Files.readAllLines(Path.of("/proc/cpuinfo")))
            {
                if (line.startsWith("model name"))
                {
                    return line.substring(line.indexOf(':') + 1).strip();
                }
            }
        }
        catch (final IOException | RuntimeException ex)
        {
            // not Linux: the architecture is all we know
        }
        return System.getProperty("os.arch");
    }

    private static String memory()
    {
        try
        {
            for (final String line : Files.readAllLines(Path.of("/proc/meminfo")))
            {
                if (line.startsWith("MemTotal:"))
                {
                    final long kib = Long.parseLong(line.replaceAll("[^0-9]", ""));
                    return String.format(java.util.Locale.ROOT, "%.1f GiB", kib / 1024.0 / 1024.0);
                }
            }
        }
        catch (final IOException | RuntimeException ex)
        {
            // unknown
        }
        return "?";
    }
}
