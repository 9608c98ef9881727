package io.quotaledger.bench.compare;

import io.quotaledger.cli.Tools;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Everything one comparison run measured and checked, in the order it happened.
 */
final class Results
{
    /**
     * @param load "closed" (maximum throughput), "equal" (open loop at the rate every system gets) or "own" (open
     *             loop at the system's own sustainable rate).
     */
    record Run(String system, String scenario, String description, String load, Measurement m)
    {
    }

    record Verified(String system, String scenario, String phase, Check check)
    {
    }

    record Jmh(String benchmark, String params, double score, double error, String unit)
    {
    }

    final String command;
    final boolean quick;
    final int concurrency;
    final Instant startedAt = Instant.now();
    final String commit = Machine.commit();
    final List<Run> runs = new ArrayList<>();
    final List<Verified> checks = new ArrayList<>();
    final Map<String, List<String>> settings = new LinkedHashMap<>();
    final Map<String, Driving> driving = new LinkedHashMap<>();
    /** redis-benchmark's figures for the Redis contender's script on its server, for reference. */
    final List<RedisContender.Ceiling> ceilings = new ArrayList<>();
    final List<String> skipped = new ArrayList<>();
    final List<Jmh> jmh = new ArrayList<>();
    long tookNanos;

    Results(final String command, final boolean quick, final int concurrency)
    {
        this.command = command;
        this.quick = quick;
        this.concurrency = concurrency;
    }

    void run(final String system, final Scenario scenario, final String load, final Measurement m)
    {
        runs.add(new Run(system, scenario.name(), scenario.description(), load, m));
    }

    void check(final String system, final Scenario scenario, final String phase, final Check check)
    {
        check(system, scenario.name(), phase, check);
    }

    void check(final String system, final String scenario, final String phase, final Check check)
    {
        checks.add(new Verified(system, scenario, phase, check));
    }

    void settings(final String system, final List<String> lines)
    {
        settings.put(system, lines);
    }

    void driving(final String system, final Driving how)
    {
        driving.put(system, how);
    }

    void ceiling(final RedisContender.Ceiling ceiling)
    {
        ceilings.add(ceiling);
    }

    void skipped(final String message)
    {
        skipped.add(message);
    }

    void jmh(final List<Jmh> results)
    {
        jmh.addAll(results);
    }

    void took(final long nanos)
    {
        tookNanos = nanos;
    }

    /** Closed-loop answers per second, NaN when not measured. */
    double throughput(final String system, final String scenario)
    {
        return find(system, scenario, "closed").map(r -> r.m().throughput()).orElse(Double.NaN);
    }

    java.util.Optional<Run> find(final String system, final String scenario, final String load)
    {
        return runs.stream()
            .filter(r -> r.system().equals(system) && r.scenario().equals(scenario) && r.load().equals(load))
            .findFirst();
    }

    /** Systems in the order they ran. */
    List<String> systems()
    {
        return runs.stream().map(Run::system).distinct().toList();
    }

    /** Scenarios in the order they ran, with at least one run of {@code load}. */
    List<String> scenarios(final String load)
    {
        return runs.stream().filter(r -> r.load().equals(load)).map(Run::scenario).distinct().toList();
    }

    boolean allChecksPassed()
    {
        return !checks.isEmpty() && checks.stream().allMatch(v -> v.check().passed());
    }

    String json()
    {
        final StringBuilder out = new StringBuilder(8192);
        out.append("{\"command\":").append(Tools.quote(command))
            .append(",\"commit\":").append(Tools.quote(commit))
            .append(",\"quick\":").append(quick)
            .append(",\"startedAt\":").append(Tools.quote(startedAt.toString()))
            .append(",\"seconds\":").append(number(tookNanos / 1e9))
            .append(",\"concurrency\":").append(concurrency)
            .append(",\"machine\":{");
        String separator = "";
        for (final Map.Entry<String, String> e : Machine.describe().entrySet())
        {
            out.append(separator).append(Tools.quote(e.getKey())).append(':').append(Tools.quote(e.getValue()));
            separator = ",";
        }
        out.append("},\"settings\":{");
        separator = "";
        for (final Map.Entry<String, List<String>> e : settings.entrySet())
        {
            out.append(separator).append(Tools.quote(e.getKey())).append(':');
            strings(out, e.getValue());
            separator = ",";
        }
        out.append("},\"driving\":{");
        separator = "";
        for (final Map.Entry<String, Driving> e : driving.entrySet())
        {
            final Driving d = e.getValue();
            out.append(separator).append(Tools.quote(e.getKey()))
                .append(":{\"client\":").append(Tools.quote(d.client()))
                .append(",\"connections\":").append(d.connections())
                .append(",\"inFlight\":").append(d.inFlight())
                .append(",\"inFlightPerConnection\":").append(Tools.quote(d.perConnection()))
                .append(",\"pipelined\":").append(d.pipelined())
                .append(",\"openLoop\":").append(Tools.quote(d.openLoop()))
                .append('}');
            separator = ",";
        }
        out.append("},\"redisCeiling\":[");
        separator = "";
        for (final RedisContender.Ceiling c : ceilings)
        {
            out.append(separator)
                .append("{\"command\":").append(Tools.quote(c.command()))
                .append(",\"scenario\":").append(Tools.quote(c.scenario()))
                .append(",\"clients\":").append(c.clients())
                .append(",\"pipeline\":").append(c.pipeline())
                .append(",\"perSecond\":").append(number(c.perSecond()))
                .append('}');
            separator = ",";
        }
        out.append("],\"skipped\":");
        strings(out, skipped);
        out.append(",\"runs\":[");
        separator = "";
        for (final Run r : runs)
        {
            final Measurement m = r.m();
            out.append(separator)
                .append("{\"system\":").append(Tools.quote(r.system()))
                .append(",\"scenario\":").append(Tools.quote(r.scenario()))
                .append(",\"load\":").append(Tools.quote(r.load()))
                .append(",\"offeredRate\":").append(number(m.rate()))
                .append(",\"concurrency\":").append(m.concurrency())
                .append(",\"seconds\":").append(number(m.seconds()))
                .append(",\"throughput\":").append(number(m.throughput()))
                .append(",\"ok\":").append(m.ok())
                .append(",\"rejected\":").append(m.rejected())
                .append(",\"errors\":").append(m.errors())
                .append(",\"dropped\":").append(m.dropped())
                .append(",\"sustained\":").append(m.sustained())
                .append(",\"latencyMicros\":{\"p50\":").append(number(m.micros(50)))
                .append(",\"p99\":").append(number(m.micros(99)))
                .append(",\"p99_9\":").append(number(m.micros(99.9)))
                .append(",\"max\":").append(number(m.maxMicros()))
                .append("}}");
            separator = ",";
        }
        out.append("],\"checks\":[");
        separator = "";
        for (final Verified v : checks)
        {
            out.append(separator)
                .append("{\"system\":").append(Tools.quote(v.system()))
                .append(",\"scenario\":").append(Tools.quote(v.scenario()))
                .append(",\"phase\":").append(Tools.quote(v.phase()))
                .append(",\"passed\":").append(v.check().passed())
                .append(",\"summary\":").append(Tools.quote(v.check().summary()))
                .append(",\"problems\":");
            strings(out, v.check().problems());
            out.append('}');
            separator = ",";
        }
        out.append("],\"jmh\":[");
        separator = "";
        for (final Jmh j : jmh)
        {
            out.append(separator)
                .append("{\"benchmark\":").append(Tools.quote(j.benchmark()))
                .append(",\"params\":").append(Tools.quote(j.params()))
                .append(",\"score\":").append(number(j.score()))
                .append(",\"error\":").append(number(j.error()))
                .append(",\"unit\":").append(Tools.quote(j.unit()))
                .append('}');
            separator = ",";
        }
        out.append("],\"allChecksPassed\":").append(allChecksPassed()).append('}');
        return out.toString();
    }

    private static void strings(final StringBuilder out, final List<String> values)
    {
        out.append('[');
        String separator = "";
        for (final String value : values)
        {
            out.append(separator).append(Tools.quote(value));
            separator = ",";
        }
        out.append(']');
    }

    private static String number(final double value)
    {
        return Double.isFinite(value) ? String.format(Locale.ROOT, "%.3f", value) : "null";
    }
}
