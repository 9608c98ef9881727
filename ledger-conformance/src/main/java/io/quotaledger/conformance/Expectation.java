package io.quotaledger.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import io.quotaledger.client.LedgerResult;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.function.ToLongFunction;

/**
 * A step's {@code expect}: the fields of a Result it names, each exact or a range; the fields it does not name are not
 * checked.
 */
final class Expectation
{
    /** The numeric Result fields, by their protocol names. */
    static final Map<String, ToLongFunction<LedgerResult>> NUMBERS = Map.ofEntries(
        Map.entry("fromFree", LedgerResult::fromFree),
        Map.entry("fromBalance", LedgerResult::fromBalance),
        Map.entry("returned", LedgerResult::returned),
        Map.entry("balance", LedgerResult::balance),
        Map.entry("held", LedgerResult::held),
        Map.entry("creditLimit", LedgerResult::creditLimit),
        Map.entry("freeRemaining", LedgerResult::freeRemaining),
        Map.entry("virtualKeyId", LedgerResult::virtualKeyId),
        Map.entry("units", LedgerResult::units),
        Map.entry("amount", LedgerResult::amount),
        Map.entry("retryAfterMillis", LedgerResult::retryAfterMillis),
        Map.entry("keySpent", LedgerResult::keySpent),
        Map.entry("keyBudgetRemaining", LedgerResult::keyBudgetRemaining));

    /** The Result flags, by their schema names. */
    static final Map<String, Predicate<LedgerResult>> FLAGS = Map.of(
        "duplicate", LedgerResult::duplicate,
        "exceededHold", LedgerResult::exceededHold,
        "frozen", LedgerResult::frozen,
        "keyRevoked", LedgerResult::keyRevoked,
        "keyExpired", LedgerResult::keyExpired);

    private Expectation()
    {
    }

    /**
     * @param expect the step's {@code expect} object.
     * @param base   the run's base: an expected virtualKeyId > 0 is compared with the base added.
     * @return what differed ("balance: expected 880, got 700"; several joined by "; "), or null when all matched.
     * @throws Request.Unclear for a field that is not a Result's, or a value of the wrong kind.
     */
    static String check(final JsonNode expect, final long base, final LedgerResult result) throws Request.Unclear
    {
        final List<String> differences = new ArrayList<>();
        for (final Map.Entry<String, JsonNode> entry : expect.properties())
        {
            final String field = entry.getKey();
            final JsonNode wanted = entry.getValue();
            if (field.equals("code"))
            {
                if (!wanted.isTextual())
                {
                    throw new Request.Unclear("code must be a result code's name, not " + wanted);
                }
                final String got = result.code().name();
                if (!got.equals(wanted.asText()))
                {
                    differences.add("code: expected " + wanted.asText() + ", got " + got);
                }
            }
            else if (FLAGS.containsKey(field))
            {
                if (!wanted.isBoolean())
                {
                    throw new Request.Unclear(field + " must be true or false, not " + wanted);
                }
                final boolean got = FLAGS.get(field).test(result);
                if (got != wanted.booleanValue())
                {
                    differences.add(field + ": expected " + wanted.booleanValue() + ", got " + got);
                }
            }
            else if (NUMBERS.containsKey(field))
            {
                final long got = NUMBERS.get(field).applyAsLong(result);
                final String difference = field.equals("virtualKeyId") ?
                    compare(field, exactKey(wanted, base), got) : compare(field, wanted, got);
                if (difference != null)
                {
                    differences.add(difference);
                }
            }
            else
            {
                throw new Request.Unclear("expect has no field '" + field + "'");
            }
        }
        return differences.isEmpty() ? null : String.join("; ", differences);
    }

    /**
     * @param counts the step's {@code expectCounts}: result code name to how many results have it.
     * @return what differed, or null when the results have exactly those codes, that many times each.
     */
    static String checkCounts(final JsonNode counts, final List<LedgerResult> results) throws Request.Unclear
    {
        final Map<String, Long> wanted = new TreeMap<>();
        for (final Map.Entry<String, JsonNode> entry : counts.properties())
        {
            if (!entry.getValue().isIntegralNumber() || entry.getValue().longValue() < 0)
            {
                throw new Request.Unclear("expectCounts." + entry.getKey() + " must be a count, not " +
                    entry.getValue());
            }
            if (entry.getValue().longValue() > 0)
            {
                wanted.put(entry.getKey(), entry.getValue().longValue());
            }
        }
        final Map<String, Long> got = new TreeMap<>();
        for (final LedgerResult result : results)
        {
            got.merge(result.code().name(), 1L, Long::sum);
        }
        return wanted.equals(got) ? null : "codes: expected " + wanted + ", got " + got;
    }

    private static long exactKey(final JsonNode wanted, final long base) throws Request.Unclear
    {
        if (!wanted.isIntegralNumber() || !wanted.canConvertToLong())
        {
            throw new Request.Unclear("virtualKeyId must be an exact number, not " + wanted);
        }
        return Request.offset(base, wanted.longValue());
    }

    private static String compare(final String field, final long wanted, final long got)
    {
        return wanted == got ? null : field + ": expected " + wanted + ", got " + got;
    }

    private static String compare(final String field, final JsonNode wanted, final long got) throws Request.Unclear
    {
        if (wanted.isIntegralNumber() && wanted.canConvertToLong())
        {
            return compare(field, wanted.longValue(), got);
        }
        if (wanted.isObject() && wanted.size() == 2 && wanted.path("min").canConvertToLong() &&
            wanted.path("min").isIntegralNumber() && wanted.path("max").isIntegralNumber() &&
            wanted.path("max").canConvertToLong())
        {
            final long min = wanted.get("min").longValue();
            final long max = wanted.get("max").longValue();
            return got >= min && got <= max ? null :
                field + ": expected " + min + " to " + max + ", got " + got;
        }
        throw new Request.Unclear(field + " must be an int64 or { \"min\": a, \"max\": b }, not " + wanted);
    }
}
