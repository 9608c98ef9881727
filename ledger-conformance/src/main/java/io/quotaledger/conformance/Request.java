package io.quotaledger.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.client.ResultHandler;
import io.quotaledger.client.ResultView;
import io.quotaledger.protocol.Period;

import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * An operation step of a scenario, sent through the Java client: which fields each operation takes (the protocol's
 * names; {@code amount} is a SETTLE's actual) and how the runner's ids go into them.
 */
final class Request
{
    /**
     * The fields each operation may have besides {@code op}, {@code pipeline}, {@code expect} and
     * {@code expectCounts}. Every operation but QUERY has a {@code requestId}; SETTLE and RELEASE a {@code holdId}.
     */
    static final Map<String, List<String>> FIELDS = Map.ofEntries(
        Map.entry("DEDUCT", List.of("requestId", "userId", "serviceId", "amount", "virtualKeyId", "units")),
        Map.entry("RESERVE",
            List.of("requestId", "userId", "serviceId", "amount", "ttlMillis", "virtualKeyId", "units")),
        Map.entry("SETTLE", List.of("requestId", "holdId", "amount")),
        Map.entry("RELEASE", List.of("requestId", "holdId")),
        Map.entry("CREDIT", List.of("requestId", "userId", "amount")),
        Map.entry("GRANT", List.of("requestId", "userId", "serviceId", "allowance", "period")),
        Map.entry("SET_LIMIT", List.of("requestId", "userId", "creditLimit")),
        Map.entry("FREEZE", List.of("requestId", "userId")),
        Map.entry("UNFREEZE", List.of("requestId", "userId")),
        Map.entry("QUERY", List.of("userId", "serviceId", "virtualKeyId")),
        Map.entry("SET_VIRTUAL_KEY", List.of("requestId", "userId", "virtualKeyId", "budget", "unlimited",
            "resetPeriod", "resetMillis", "expiresAt", "services")),
        Map.entry("SET_VIRTUAL_KEY_SERVICE_BUDGET",
            List.of("requestId", "userId", "virtualKeyId", "serviceId", "budget")),
        Map.entry("REVOKE_VIRTUAL_KEY", List.of("requestId", "userId", "virtualKeyId")),
        Map.entry("SET_PRICE", List.of("requestId", "groupId", "serviceId", "multiplier")),
        Map.entry("SET_GROUP", List.of("requestId", "userId", "groupId")),
        Map.entry("SET_RATE_LIMIT", List.of("requestId", "userId", "virtualKeyId", "requests", "units", "perMillis")),
        Map.entry("SET_SPEND_WINDOW", List.of("requestId", "userId", "virtualKeyId", "max", "perMillis")),
        Map.entry("SET_CONCURRENCY", List.of("requestId", "userId", "virtualKeyId", "max")));

    /** What a step holds besides the operation's own fields. */
    static final List<String> STEP_FIELDS = List.of("op", "pipeline", "expect", "expectCounts");

    private final ObjectNode step;
    private final String op;
    private final long base;

    /**
     * A scenario that does not say what it means.
     */
    static final class Unclear extends Exception
    {
        private static final long serialVersionUID = 1L;

        Unclear(final String message)
        {
            super(message);
        }
    }

    /**
     * @param base the run's base, added to every positive user, virtual key and group id.
     * @throws Unclear for an unknown operation, a field it does not have, or a missing request or hold id.
     */
    Request(final ObjectNode step, final long base) throws Unclear
    {
        this.step = step;
        this.base = base;
        op = step.path("op").asText();
        final List<String> fields = FIELDS.get(op);
        if (fields == null)
        {
            throw new Unclear("unknown op '" + op + "'");
        }
        for (final String field : (Iterable<String>)step::fieldNames)
        {
            if (!fields.contains(field) && !STEP_FIELDS.contains(field))
            {
                throw new Unclear(op + " has no field '" + field + "'");
            }
        }
        if (fields.contains("requestId") && !step.path("requestId").isTextual())
        {
            throw new Unclear(op + " needs a requestId (a name)");
        }
        if (fields.contains("holdId") && !step.path("holdId").isTextual())
        {
            throw new Unclear(op + " needs a holdId (the name of a RESERVE's requestId)");
        }
    }

    String op()
    {
        return op;
    }

    /**
     * @return the symbolic request id, null for QUERY.
     */
    String requestId()
    {
        return step.has("requestId") ? step.get("requestId").asText() : null;
    }

    /**
     * Sends the request.
     *
     * @param requestId the request's id (ignored by QUERY).
     * @param ids       the run's ids by name, for a hold id.
     * @return its result.
     */
    CompletableFuture<LedgerResult> send(final LedgerClient client, final UUID requestId,
        final Function<String, UUID> ids) throws Unclear
    {
        if (op.equals("QUERY"))
        {
            return client.query(id("userId"), serviceId(), id("virtualKeyId"));
        }
        final Answer answer = new Answer();
        final long hi = requestId.getMostSignificantBits();
        final long lo = requestId.getLeastSignificantBits();
        switch (op)
        {
            case "DEDUCT" -> client.deduct(hi, lo, id("userId"), serviceId(), number("amount"), id("virtualKeyId"),
                number("units"), answer);
            case "RESERVE" -> client.reserve(hi, lo, id("userId"), serviceId(), number("amount"),
                number("ttlMillis"), id("virtualKeyId"), number("units"), answer);
            case "SETTLE" ->
            {
                final UUID hold = ids.apply(step.get("holdId").asText());
                client.settle(hi, lo, hold.getMostSignificantBits(), hold.getLeastSignificantBits(),
                    number("amount"), answer);
            }
            case "RELEASE" ->
            {
                final UUID hold = ids.apply(step.get("holdId").asText());
                client.release(hi, lo, hold.getMostSignificantBits(), hold.getLeastSignificantBits(), answer);
            }
            case "CREDIT" -> client.credit(hi, lo, id("userId"), number("amount"), answer);
            case "GRANT" -> client.grant(hi, lo, id("userId"), serviceId(), number("allowance"), period("period"),
                answer);
            case "SET_LIMIT" -> client.setLimit(hi, lo, id("userId"), number("creditLimit"), answer);
            case "FREEZE" -> client.freeze(hi, lo, id("userId"), answer);
            case "UNFREEZE" -> client.unfreeze(hi, lo, id("userId"), answer);
            case "SET_VIRTUAL_KEY" -> client.setVirtualKey(hi, lo, id("userId"), id("virtualKeyId"),
                number("budget"), flag("unlimited"), period("resetPeriod"), number("resetMillis"),
                number("expiresAt"), services(), answer);
            case "SET_VIRTUAL_KEY_SERVICE_BUDGET" -> client.setVirtualKeyServiceBudget(hi, lo, id("userId"),
                id("virtualKeyId"), serviceId(), number("budget"), answer);
            case "REVOKE_VIRTUAL_KEY" -> client.revokeVirtualKey(hi, lo, id("userId"), id("virtualKeyId"), answer);
            case "SET_PRICE" -> client.setPrice(hi, lo, groupId(), serviceId(), number("multiplier"), answer);
            case "SET_GROUP" -> client.setGroup(hi, lo, id("userId"), groupId(), answer);
            case "SET_RATE_LIMIT" -> client.setRateLimit(hi, lo, id("userId"), id("virtualKeyId"),
                number("requests"), number("units"), number("perMillis"), answer);
            case "SET_SPEND_WINDOW" -> client.setSpendWindow(hi, lo, id("userId"), id("virtualKeyId"),
                number("max"), number("perMillis"), answer);
            case "SET_CONCURRENCY" -> client.setConcurrency(hi, lo, id("userId"), id("virtualKeyId"),
                number("max"), answer);
            default -> throw new Unclear("unknown op '" + op + "'");
        }
        return answer;
    }

    /**
     * @return a numeric field, 0 when missing.
     */
    private long number(final String field) throws Unclear
    {
        final JsonNode node = step.path(field);
        if (node.isMissingNode())
        {
            return 0;
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong())
        {
            throw new Unclear(field + " must be an integer (int64), not " + node);
        }
        return node.longValue();
    }

    /**
     * @return a user or virtual key id with the run's base added when it is positive.
     */
    private long id(final String field) throws Unclear
    {
        return offset(base, number(field));
    }

    private int groupId() throws Unclear
    {
        final long groupId = id("groupId");
        if (groupId != (int)groupId)
        {
            throw new Unclear("groupId " + groupId + " (with the base) does not fit int32");
        }
        return (int)groupId;
    }

    private int serviceId() throws Unclear
    {
        final long serviceId = number("serviceId");
        if (serviceId != (int)serviceId)
        {
            throw new Unclear("serviceId must fit int32, not " + serviceId);
        }
        return (int)serviceId;
    }

    private boolean flag(final String field) throws Unclear
    {
        final JsonNode node = step.path(field);
        if (!node.isMissingNode() && !node.isBoolean())
        {
            throw new Unclear(field + " must be true or false, not " + node);
        }
        return node.asBoolean(false);
    }

    /**
     * @return a period by name (NONE, DAY, WEEK, MONTH); NONE when missing.
     */
    private Period period(final String field) throws Unclear
    {
        final JsonNode node = step.path(field);
        if (node.isMissingNode())
        {
            return Period.NONE;
        }
        try
        {
            final Period period = Period.valueOf(node.asText());
            if (period != Period.NULL_VAL)
            {
                return period;
            }
        }
        catch (final IllegalArgumentException ex)
        {
            // reported below
        }
        throw new Unclear(field + " must be NONE, DAY, WEEK or MONTH, not " + node);
    }

    private int[] services() throws Unclear
    {
        final JsonNode node = step.path("services");
        if (node.isMissingNode())
        {
            return new int[0];
        }
        if (!node.isArray())
        {
            throw new Unclear("services must be a list of service ids, not " + node);
        }
        final int[] services = new int[node.size()];
        for (int i = 0; i < services.length; i++)
        {
            if (!node.get(i).canConvertToInt() || !node.get(i).isIntegralNumber())
            {
                throw new Unclear("services must be int32 service ids, not " + node);
            }
            services[i] = node.get(i).intValue();
        }
        return services;
    }

    /**
     * @return an id as the run sends it: with the base added when positive (0 means none; scenarios hold no negative
     * ids, which would be sent as written).
     */
    static long offset(final long base, final long id)
    {
        return id > 0 ? id + base : id;
    }

    /**
     * The answer to a request sent in the client's callback form, as a future.
     */
    private static final class Answer extends CompletableFuture<LedgerResult> implements ResultHandler
    {
        public void onResult(final ResultView result)
        {
            complete(result.toResult());
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
            completeExceptionally(cause);
        }
    }
}
