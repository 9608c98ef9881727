package io.quotaledger.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerClientException;
import io.quotaledger.client.LedgerResult;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One scenario run by the Java client: one connection (the scenario's key) opened before the first step, the steps in
 * order, each awaiting its result, and the first step that differs from what it expects.
 */
final class ScenarioRun
{
    /** How long a step waits for its results. */
    private static final long ANSWER_TIMEOUT_MILLIS = 30_000;
    /** What the Java client reports when the server refuses its key (LedgerClient's onHelloResult). */
    private static final String REFUSED = "server refused the API key: ";

    /**
     * The outcome of a scenario.
     *
     * @param scenario its name.
     * @param passed   every step matched.
     * @param step     the index of the first step that did not (0-based), -1 when the file could not be read.
     * @param detail   what differed.
     */
    record Verdict(String scenario, boolean passed, int step, String detail)
    {
        static Verdict pass(final String scenario)
        {
            return new Verdict(scenario, true, 0, null);
        }

        static Verdict fail(final String scenario, final int step, final String detail)
        {
            return new Verdict(scenario, false, step, detail);
        }

        /**
         * @return the runner's line: {@code <client> <scenario> PASS} or
         * {@code <client> <scenario> FAIL <step>: <detail>}, on one line.
         */
        String line(final String client)
        {
            if (passed)
            {
                return client + " " + scenario + " PASS";
            }
            final String where = step < 0 ? "-" : Integer.toString(step);
            return client + " " + scenario + " FAIL " + where + ": " + detail.replaceAll("\\s+", " ");
        }
    }

    private final RunnerEnvironment environment;
    private final Scenario scenario;
    private final Map<String, UUID> ids = new HashMap<>();
    private LedgerClient client;

    private ScenarioRun(final RunnerEnvironment environment, final Scenario scenario)
    {
        this.environment = environment;
        this.scenario = scenario;
    }

    /**
     * Runs a scenario against the ledger the environment names.
     */
    static Verdict run(final RunnerEnvironment environment, final Scenario scenario)
    {
        final ScenarioRun run = new ScenarioRun(environment, scenario);
        try
        {
            return run.steps();
        }
        finally
        {
            run.disconnect();
        }
    }

    private Verdict steps()
    {
        try
        {
            client = connect(environment.key(scenario.connectAs()));
        }
        catch (final LedgerClientException ex)
        {
            return Verdict.fail(scenario.name(), 0, "cannot connect as " + scenario.connectAs() + ": " +
                ex.getMessage());
        }
        final List<ObjectNode> steps = scenario.steps();
        for (int i = 0; i < steps.size(); i++)
        {
            String difference;
            try
            {
                difference = step(steps.get(i));
            }
            catch (final Request.Unclear ex)
            {
                difference = "bad step: " + ex.getMessage();
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                difference = "interrupted";
            }
            catch (final Exception ex)
            {
                difference = describe(ex);
            }
            if (difference != null)
            {
                return Verdict.fail(scenario.name(), i, difference);
            }
        }
        return Verdict.pass(scenario.name());
    }

    /**
     * @return what differed, or null.
     */
    private String step(final ObjectNode step) throws Exception
    {
        if (step.has("op"))
        {
            return operation(step);
        }
        if (step.has("sleepMillis"))
        {
            only(step, "sleepMillis");
            if (!step.get("sleepMillis").isIntegralNumber() || step.get("sleepMillis").longValue() < 0)
            {
                throw new Request.Unclear("sleepMillis must be a number of milliseconds");
            }
            Thread.sleep(step.get("sleepMillis").longValue());
            return null;
        }
        if (step.has("connect"))
        {
            only(step, "connect", "expect");
            return reconnect(step.get("connect"), expectation(step));
        }
        if (step.has("raw"))
        {
            only(step, "raw", "expect");
            return RawStep.run(environment.host(), environment.port(), step.get("raw"), expectation(step),
                environment.key(scenario.connectAs()));
        }
        throw new Request.Unclear("a step has op, sleepMillis, connect or raw");
    }

    private String operation(final ObjectNode step) throws Exception
    {
        final Request request = new Request(step, environment.base());
        final JsonNode expect = step.get("expect");
        final JsonNode counts = step.get("expectCounts");
        if ((expect == null) == (counts == null) || (expect != null && !expect.isObject()) ||
            (counts != null && !counts.isObject()))
        {
            throw new Request.Unclear("an op step has one of expect and expectCounts (an object)");
        }
        if (client == null)
        {
            return "no connection (the last connect step was refused)";
        }
        if (!step.has("pipeline"))
        {
            if (counts != null)
            {
                throw new Request.Unclear("expectCounts goes with pipeline");
            }
            final String name = request.requestId();
            final LedgerResult result = await(request.send(client, name == null ? null : id(name), this::id));
            return Expectation.check(expect, environment.base(), result);
        }
        final JsonNode pipeline = step.get("pipeline");
        if (!pipeline.isIntegralNumber() || pipeline.intValue() < 1 || pipeline.intValue() > 10_000)
        {
            throw new Request.Unclear("pipeline must be 1 to 10000, not " + pipeline);
        }
        final List<CompletableFuture<LedgerResult>> sent = new ArrayList<>();
        for (int i = 0; i < pipeline.intValue(); i++)
        {
            final String name = request.requestId();
            sent.add(request.send(client, name == null ? null : id(name + "#" + i), this::id));
        }
        final List<LedgerResult> results = new ArrayList<>();
        for (final CompletableFuture<LedgerResult> answer : sent)
        {
            results.add(await(answer));
        }
        if (counts != null)
        {
            return Expectation.checkCounts(counts, results);
        }
        for (int i = 0; i < results.size(); i++)
        {
            final String difference = Expectation.check(expect, environment.base(), results.get(i));
            if (difference != null)
            {
                return "#" + i + ": " + difference;
            }
        }
        return null;
    }

    /**
     * A {@code connect} step: the connection so far is closed, a new one opened with the key named.
     */
    private String reconnect(final JsonNode connect, final JsonNode expect) throws Request.Unclear
    {
        only(connect, "key");
        if (!expect.path("code").isTextual() || expect.size() != 1)
        {
            throw new Request.Unclear("a connect step expects a code (OK or UNAUTHENTICATED) and nothing else");
        }
        final String key;
        try
        {
            key = environment.key(connect.path("key").asText());
        }
        catch (final IllegalArgumentException ex)
        {
            throw new Request.Unclear(ex.getMessage());
        }
        disconnect();
        String code;
        try
        {
            client = connect(key);
            code = "OK";
        }
        catch (final LedgerClientException ex)
        {
            final String message = String.valueOf(ex.getMessage());
            if (!message.startsWith(REFUSED))
            {
                return "cannot connect: " + message;
            }
            code = message.substring(REFUSED.length()).strip();
        }
        final String wanted = expect.get("code").asText();
        return code.equals(wanted) ? null : "code: expected " + wanted + ", got " + code;
    }

    private LedgerClient connect(final String key)
    {
        return LedgerClient.connect(new ClientConfig()
            .host(environment.host())
            .port(environment.port())
            .apiKey(key)
            .timeout(Duration.ofSeconds(5)));
    }

    private void disconnect()
    {
        if (client != null)
        {
            client.close();
            client = null;
        }
    }

    /**
     * @return the id of a name: a fresh random one on first use in this scenario, the same one after.
     */
    private UUID id(final String name)
    {
        return ids.computeIfAbsent(name, ignored -> UUID.randomUUID());
    }

    private static JsonNode expectation(final ObjectNode step) throws Request.Unclear
    {
        final JsonNode expect = step.get("expect");
        if (expect == null || !expect.isObject())
        {
            throw new Request.Unclear("the step needs an expect object");
        }
        return expect;
    }

    private static void only(final JsonNode node, final String... fields) throws Request.Unclear
    {
        for (final String field : (Iterable<String>)node::fieldNames)
        {
            if (!List.of(fields).contains(field))
            {
                throw new Request.Unclear("unexpected field '" + field + "' (this step has " +
                    String.join(", ", fields) + ")");
            }
        }
    }

    private static LedgerResult await(final CompletableFuture<LedgerResult> answer) throws Exception
    {
        try
        {
            return answer.get(ANSWER_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
        }
        catch (final ExecutionException ex)
        {
            throw ex.getCause() instanceof Exception cause ? cause : ex;
        }
        catch (final TimeoutException ex)
        {
            throw new IOException("no answer within " + ANSWER_TIMEOUT_MILLIS + " ms");
        }
    }

    private static String describe(final Exception ex)
    {
        return ex.getClass().getSimpleName() + ": " + ex.getMessage();
    }
}
