package io.quotaledger.conformance;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The Java client's conformance runner: runs scenario files against the ledger its environment names
 * (conformance/README.md) and prints one line per scenario, {@code java <scenario> PASS} or
 * {@code java <scenario> FAIL <step>: <what differed>}. Exit code 0 when every scenario passed, 1 when one did not, 2
 * when it cannot run (usage, environment).
 */
public final class JavaRunner
{
    /** The name the runner prints first on each line. */
    public static final String CLIENT = "java";

    private JavaRunner()
    {
    }

    public static void main(final String[] args)
    {
        System.exit(run(args));
    }

    /**
     * @return the exit code.
     */
    static int run(final String[] args)
    {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help"))
        {
            System.err.println("usage: JavaRunner SCENARIO.json|DIR...  (environment: " +
                RunnerEnvironment.HOST + ", " + RunnerEnvironment.PORT + ", " + RunnerEnvironment.ADMIN_KEY_FILE +
                ", " + RunnerEnvironment.GATEWAY_KEY_FILE + ", " + RunnerEnvironment.RUN_BASE + ")");
            return 2;
        }
        final RunnerEnvironment environment;
        final List<Path> files;
        try
        {
            environment = RunnerEnvironment.from(System.getenv());
            final List<Path> paths = new ArrayList<>();
            for (final String arg : args)
            {
                paths.add(Path.of(arg));
            }
            files = Scenario.files(paths);
        }
        catch (final RunnerEnvironment.Unusable | IOException ex)
        {
            System.err.println("java conformance runner: " + ex.getMessage());
            return 2;
        }
        if (files.isEmpty())
        {
            System.err.println("java conformance runner: no scenario files in " + String.join(" ", args));
            return 2;
        }
        boolean passed = true;
        for (final Path file : files)
        {
            ScenarioRun.Verdict verdict;
            try
            {
                verdict = ScenarioRun.run(environment, Scenario.load(file));
            }
            catch (final Scenario.Invalid ex)
            {
                verdict = ScenarioRun.Verdict.fail(Scenario.nameOf(file), -1, ex.getMessage());
            }
            System.out.println(verdict.line(CLIENT));
            System.out.flush();
            passed &= verdict.passed();
        }
        return passed ? 0 : 1;
    }
}
