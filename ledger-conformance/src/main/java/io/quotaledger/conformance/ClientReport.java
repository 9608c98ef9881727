package io.quotaledger.conformance;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one client's runner came to: a result per scenario, read from the lines it printed, and whatever broke the
 * runner's contract (conformance/README.md: exactly one line per scenario, exit code 0 iff all passed).
 *
 * @param client  java, go or python.
 * @param status  PASS, FAIL (a scenario failed), ERROR (the runner broke its contract or could not run) or MISSING
 *                (no runner in the tree).
 * @param detail  why ERROR or MISSING, else null.
 * @param results one per scenario, in the suite's order; empty when the runner did not run.
 * @param stderr  the last lines the runner wrote to standard error, for a failure's report.
 */
public record ClientReport(String client, Status status, String detail, List<Result> results, List<String> stderr)
{
    private static final Pattern LINE = Pattern.compile("(\\S+) (\\S+) (PASS|FAIL)(?: (.*))?");

    /**
     * A client's outcome.
     */
    public enum Status
    {
        PASS, FAIL, ERROR, MISSING
    }

    /**
     * @param scenario the scenario's name.
     * @param passed   the runner printed PASS for it.
     * @param detail   what the runner printed after FAIL (the step and what differed), or why there is no line.
     */
    public record Result(String scenario, boolean passed, String detail)
    {
    }

    /**
     * A client that did not run.
     */
    static ClientReport notRun(final String client, final Status status, final String detail)
    {
        return new ClientReport(client, status, detail, List.of(), List.of());
    }

    /**
     * Reads a runner's output.
     *
     * @param scenarios the scenario names, in the suite's order.
     * @param stdout    the lines it printed.
     * @param exitCode  its exit code, null when it had to be stopped.
     * @param why       why it had to be stopped, when it was.
     * @param stderr    the last lines of its standard error.
     */
    static ClientReport read(final String client, final List<String> scenarios, final List<String> stdout,
        final Integer exitCode, final String why, final List<String> stderr)
    {
        final Map<String, Result> byName = new LinkedHashMap<>();
        final List<String> problems = new ArrayList<>();
        for (final String line : stdout)
        {
            final Matcher matcher = LINE.matcher(line);
            final boolean recognized = matcher.matches() && matcher.group(1).equals(client) &&
                scenarios.contains(matcher.group(2)) && (matcher.group(3).equals("FAIL") || matcher.group(4) == null);
            if (!recognized)
            {
                problems.add("unexpected output line '" + line + "'");
                continue;
            }
            final Result result = new Result(matcher.group(2), matcher.group(3).equals("PASS"), matcher.group(4));
            if (byName.putIfAbsent(result.scenario(), result) != null)
            {
                problems.add("two lines for " + result.scenario());
            }
        }
        final List<Result> results = new ArrayList<>();
        boolean allPassed = true;
        for (final String scenario : scenarios)
        {
            final Result result = byName.getOrDefault(scenario,
                new Result(scenario, false, "-: the runner printed no line for it"));
            results.add(result);
            allPassed &= result.passed();
        }
        if (exitCode == null)
        {
            problems.add(why);
        }
        else if (allPassed && exitCode != 0)
        {
            problems.add("exit code " + exitCode + " although every scenario passed");
        }
        else if (!allPassed && exitCode == 0)
        {
            problems.add("exit code 0 although a scenario did not pass");
        }
        final Status status = !problems.isEmpty() ? Status.ERROR : allPassed ? Status.PASS : Status.FAIL;
        return new ClientReport(client, status, problems.isEmpty() ? null : String.join("; ", problems),
            List.copyOf(results), stderr);
    }

    /**
     * @return the report's lines: one per scenario, then one for the client when it is ERROR or MISSING.
     */
    public List<String> lines()
    {
        final List<String> lines = new ArrayList<>();
        for (final Result result : results)
        {
            lines.add(client + " " + result.scenario() + (result.passed() ? " PASS" :
                " FAIL" + (result.detail() == null ? "" : " " + result.detail())));
        }
        if (status == Status.ERROR || status == Status.MISSING)
        {
            lines.add(client + " " + status + (detail == null ? "" : " (" + detail + ")"));
        }
        return lines;
    }

    /**
     * @return how many scenarios passed.
     */
    public long passed()
    {
        return results.stream().filter(Result::passed).count();
    }
}
