package io.quotaledger.bench.compare;

import io.quotaledger.bench.JournalBenchmark;
import io.quotaledger.bench.LedgerBenchmark;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.VerboseMode;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A short JMH pass over the state machine alone and the state machine behind the ring and the journal, so the report
 * shows where the time over TCP goes. The full runs are {@code scripts/bench jmh ...} (docs/benchmarks.md).
 */
final class JmhSummary
{
    private JmhSummary()
    {
    }

    static List<Results.Jmh> run(final List<String> jvmFlags) throws Exception
    {
        final List<Results.Jmh> results = new ArrayList<>();
        results.addAll(run(LedgerBenchmark.class.getName(), jvmFlags, "distribution", "uniform"));
        results.addAll(run(JournalBenchmark.class.getName(), jvmFlags, "waitStrategy", "yielding"));
        return results;
    }

    private static List<Results.Jmh> run(final String benchmark, final List<String> jvmFlags, final String param,
        final String value) throws Exception
    {
        final Options options = new OptionsBuilder()
            .include(benchmark.replace(".", "\\.") + "\\.")
            .param(param, value)
            .forks(1)
            .warmupIterations(1)
            .warmupTime(org.openjdk.jmh.runner.options.TimeValue.seconds(2))
            .measurementIterations(3)
            .measurementTime(org.openjdk.jmh.runner.options.TimeValue.seconds(2))
            .timeUnit(TimeUnit.SECONDS)
            .jvmArgsAppend(jvmFlags.toArray(String[]::new))
            .verbosity(VerboseMode.SILENT)
            .build();
        final List<Results.Jmh> results = new ArrayList<>();
        for (final RunResult r : new Runner(options).run())
        {
            final StringBuilder params = new StringBuilder();
            for (final String key : r.getParams().getParamsKeys())
            {
                params.append(params.length() == 0 ? "" : ", ").append(key).append('=')
                    .append(r.getParams().getParam(key));
            }
            final String name = r.getParams().getBenchmark();
            results.add(new Results.Jmh(name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1),
                params.toString(), r.getPrimaryResult().getScore(), r.getPrimaryResult().getScoreError(),
                r.getPrimaryResult().getScoreUnit()));
        }
        return results;
    }
}
