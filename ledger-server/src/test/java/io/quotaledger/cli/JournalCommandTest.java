package io.quotaledger.cli;

import io.quotaledger.core.Op;
import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalAppender;
import io.quotaledger.journal.Journals;
import org.agrona.ExpandableArrayBuffer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ledger journal} on gateway policy outcomes: every new type with its fields, and the filters that answer
 * "why was I rejected?" (by user, virtual key, result code).
 */
class JournalCommandTest
{
    private static final long T = Instant.parse("2026-03-02T10:15:00Z").toEpochMilli();
    private static final String AT = "\"time\":\"2026-03-02T10:15:00Z\",\"timestamp\":" + T;

    @TempDir
    Path temp;

    private final Cli cli = new Cli();
    private final ExpandableArrayBuffer buffer = new ExpandableArrayBuffer();
    private int count;
    private String data;

    /**
     * User 42 with keys 7 (a budget) and 8 (unlimited); its settings, charges through each key and without one, a
     * hold through key 7, and rejections: through key 7, without a key, and user 43 naming key 7.
     */
    @BeforeEach
    void journal() throws Exception
    {
        final Outcome o = new Outcome();
        add(o.reset(OutcomeType.CREDITED, Op.CREDIT, T).requestId(0, 1).userId(42).amount(10_000)
            .balanceAfter(10_000));
        add(o.reset(OutcomeType.VIRTUAL_KEY_SET, Op.SET_VIRTUAL_KEY, T).requestId(0, 2).userId(42).virtualKeyId(7)
            .amount(1_000).resetPeriod(Period.DAY).expiresAt(T + 86_400_000L).addService(3).addService(5));
        add(o.reset(OutcomeType.VIRTUAL_KEY_SET, Op.SET_VIRTUAL_KEY, T).requestId(0, 3).userId(42).virtualKeyId(8)
            .flags(Outcome.FLAG_UNLIMITED).amount(-1).resetMillis(18_000_000));
        add(o.reset(OutcomeType.VIRTUAL_KEY_SERVICE_BUDGET_SET, Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, T).requestId(0, 4)
            .userId(42).virtualKeyId(7).serviceId(3).amount(400));
        add(o.reset(OutcomeType.VIRTUAL_KEY_SERVICE_BUDGET_SET, Op.SET_VIRTUAL_KEY_SERVICE_BUDGET, T).requestId(0, 5)
            .userId(42).virtualKeyId(7).serviceId(5).amount(-1));
        add(o.reset(OutcomeType.PRICE_SET, Op.SET_PRICE, T).requestId(0, 6).groupId(2).multiplier(1_500_000));
        add(o.reset(OutcomeType.GROUP_SET, Op.SET_GROUP, T).requestId(0, 7).userId(42).groupId(2));
        add(o.reset(OutcomeType.RATE_LIMIT_SET, Op.SET_RATE_LIMIT, T).requestId(0, 8).userId(42).virtualKeyId(7)
            .requests(60).perMillis(60_000));
        add(o.reset(OutcomeType.RATE_LIMIT_SET, Op.SET_RATE_LIMIT, T).requestId(0, 9).userId(42).perMillis(1_000));
        add(o.reset(OutcomeType.SPEND_WINDOW_SET, Op.SET_SPEND_WINDOW, T).requestId(0, 10).userId(42).amount(5_000)
            .perMillis(18_000_000));
        add(o.reset(OutcomeType.CONCURRENCY_SET, Op.SET_CONCURRENCY, T).requestId(0, 11).userId(42).virtualKeyId(7)
            .amount(2));
        add(o.reset(OutcomeType.CHARGED, Op.DEDUCT, T).requestId(0, 12).userId(42).serviceId(3).amount(150)
            .fromBalance(150).balanceAfter(9_850));
        add(o.reset(OutcomeType.POLICY_APPLIED, Op.DEDUCT, T).requestId(0, 12).userId(42).serviceId(3).virtualKeyId(7)
            .units(100).amount(150).keySpentAfter(150).keyServiceSpentAfter(150).keyPeriodId(20_514)
            .userRequestsTat(T * 1_000 + 1_000).keyRequestsTat(T * 1_000 + 1_000_000));
        add(o.reset(OutcomeType.CHARGED, Op.DEDUCT, T).requestId(0, 14).userId(42).serviceId(3).amount(10)
            .fromBalance(10).balanceAfter(9_840));
        add(o.reset(OutcomeType.CHARGED, Op.DEDUCT, T).requestId(0, 15).userId(42).serviceId(1).amount(20)
            .fromBalance(20).balanceAfter(9_820));
        add(o.reset(OutcomeType.POLICY_APPLIED, Op.DEDUCT, T).requestId(0, 15).userId(42).serviceId(1).virtualKeyId(8)
            .amount(20).keySpentAfter(20).keyPeriodId(0));
        add(o.reset(OutcomeType.REJECTED, Op.DEDUCT, T).requestId(0, 17).code(ResultCode.RATE_LIMITED).userId(42)
            .serviceId(3).virtualKeyId(7).units(50).retryAfterMillis(1_500));
        add(o.reset(OutcomeType.REJECTED, Op.DEDUCT, T).requestId(0, 18).code(ResultCode.SPEND_WINDOW_EXCEEDED)
            .userId(42).serviceId(3).amount(6_000).retryAfterMillis(-1));
        add(o.reset(OutcomeType.REJECTED, Op.DEDUCT, T).requestId(0, 19).code(ResultCode.UNKNOWN_VIRTUAL_KEY)
            .userId(43).serviceId(3).virtualKeyId(7).amount(5));
        add(o.reset(OutcomeType.HOLD_OPENED, Op.RESERVE, T).requestId(0, 20).holdId(0, 20).userId(42).serviceId(3)
            .amount(200).fromBalance(200).balanceAfter(9_620).expiresAt(T + 60_000));
        add(o.reset(OutcomeType.POLICY_APPLIED, Op.RESERVE, T).requestId(0, 20).userId(42).serviceId(3)
            .virtualKeyId(7).amount(200).keySpentAfter(350).keyServiceSpentAfter(350).keyPeriodId(20_514));
        add(o.reset(OutcomeType.HOLD_RELEASED, Op.RELEASE, T).requestId(0, 22).holdId(0, 20).userId(42).serviceId(3)
            .returnedBalance(200).balanceAfter(9_820));
        add(o.reset(OutcomeType.POLICY_APPLIED, Op.RELEASE, T).requestId(0, 22).userId(42).serviceId(3)
            .virtualKeyId(7).keySpentAfter(150).keyServiceSpentAfter(150).keyPeriodId(20_514));
        add(o.reset(OutcomeType.VIRTUAL_KEY_REVOKED, Op.REVOKE_VIRTUAL_KEY, T).requestId(0, 24).userId(42)
            .virtualKeyId(7));
        add(o.reset(OutcomeType.REJECTED, Op.DEDUCT, T).requestId(0, 25).code(ResultCode.VIRTUAL_KEY_REVOKED)
            .userId(42).serviceId(3).virtualKeyId(7).amount(1));
        final DataDir dir = new DataDir(temp.resolve("data"));
        data = dir.root().toString();
        try (JournalAppender appender = JournalAppender.open(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0))
        {
            appender.append(1, buffer, 0, count);
            appender.flush();
        }
    }

    private void add(final Outcome outcome)
    {
        outcome.encode(buffer, count++ * Outcome.LENGTH);
    }

    @Test
    void shouldShowEveryPolicyOutcomeWithItsFields()
    {
        assertEquals(0, cli.run("journal", "--data", data, "--json"), cli.err);
        final List<String> lines = cli.out.lines().toList();
        assertEquals(25, lines.size(), cli.out);
        assertEquals(json(2, "VIRTUAL_KEY_SET", "SET_VIRTUAL_KEY", 2, 42,
            "\"virtualKeyId\":7,\"unlimited\":false,\"budget\":1000,\"reset\":\"DAY\"," +
            "\"expiresAt\":\"2026-03-03T10:15:00Z\",\"services\":[3,5]"), lines.get(1));
        assertEquals(json(3, "VIRTUAL_KEY_SET", "SET_VIRTUAL_KEY", 3, 42,
            "\"virtualKeyId\":8,\"unlimited\":true,\"reset\":\"DURATION\",\"resetMillis\":18000000"), lines.get(2));
        assertEquals(json(4, "VIRTUAL_KEY_SERVICE_BUDGET_SET", "SET_VIRTUAL_KEY_SERVICE_BUDGET", 4, 42,
            "\"serviceId\":3,\"virtualKeyId\":7,\"budget\":400"), lines.get(3));
        assertEquals(json(5, "VIRTUAL_KEY_SERVICE_BUDGET_SET", "SET_VIRTUAL_KEY_SERVICE_BUDGET", 5, 42,
            "\"serviceId\":5,\"virtualKeyId\":7,\"budget\":-1,\"removed\":true"), lines.get(4));
        assertEquals(json(6, "PRICE_SET", "SET_PRICE", 6, 0, "\"serviceId\":0,\"groupId\":2,\"multiplier\":1.5"),
            lines.get(5));
        assertEquals(json(7, "GROUP_SET", "SET_GROUP", 7, 42, "\"groupId\":2"), lines.get(6));
        assertEquals(json(8, "RATE_LIMIT_SET", "SET_RATE_LIMIT", 8, 42,
            "\"virtualKeyId\":7,\"requests\":60,\"units\":0,\"perMillis\":60000"), lines.get(7));
        assertEquals(json(9, "RATE_LIMIT_SET", "SET_RATE_LIMIT", 9, 42,
            "\"requests\":0,\"units\":0,\"perMillis\":1000,\"removed\":true"), lines.get(8));
        assertEquals(json(10, "SPEND_WINDOW_SET", "SET_SPEND_WINDOW", 10, 42, "\"max\":5000,\"perMillis\":18000000"),
            lines.get(9));
        assertEquals(json(11, "CONCURRENCY_SET", "SET_CONCURRENCY", 11, 42, "\"virtualKeyId\":7,\"max\":2"),
            lines.get(10));
        assertEquals(json(13, "POLICY_APPLIED", "DEDUCT", 12, 42,
            "\"serviceId\":3,\"virtualKeyId\":7,\"amount\":150,\"units\":100,\"keySpentAfter\":150," +
            "\"keyServiceSpentAfter\":150,\"keyPeriodId\":20514,\"userRequestsTat\":" + (T * 1_000 + 1_000) +
            ",\"keyRequestsTat\":" + (T * 1_000 + 1_000_000)), lines.get(12));
        assertEquals(json(17, "REJECTED", "DEDUCT", 17, 42,
            "\"serviceId\":3,\"code\":\"RATE_LIMITED\",\"amount\":0,\"virtualKeyId\":7,\"units\":50," +
            "\"retryAfterMillis\":1500"), lines.get(16));
        assertEquals(json(18, "REJECTED", "DEDUCT", 18, 42,
            "\"serviceId\":3,\"code\":\"SPEND_WINDOW_EXCEEDED\",\"amount\":6000,\"retryAfterMillis\":-1"),
            lines.get(17));
        assertEquals(json(24, "VIRTUAL_KEY_REVOKED", "REVOKE_VIRTUAL_KEY", 24, 42, "\"virtualKeyId\":7"),
            lines.get(23));
        assertEquals(json(12, "CHARGED", "DEDUCT", 12, 42,
            "\"serviceId\":3,\"fromFree\":0,\"fromBalance\":150,\"freeUsedAfter\":0,\"balanceAfter\":9850"),
            lines.get(11), "the charge outcomes as before");

        assertEquals(0, cli.run("journal", "--data", data, "--type", "policy_applied,virtual_key_set"), cli.err);
        final List<String> text = cli.out.lines().toList();
        assertEquals(6, text.size(), cli.out);
        assertTrue(text.get(0).endsWith("  VIRTUAL_KEY_SET  SET_VIRTUAL_KEY  " + uuid(2) + "  userId=42 " +
            "virtualKeyId=7 unlimited=false budget=1000 reset=DAY expiresAt=2026-03-03T10:15:00Z services=[3,5]"),
            text.get(0));
        assertTrue(text.get(2).contains("  POLICY_APPLIED  DEDUCT     " + uuid(12) + "  userId=42 serviceId=3 " +
            "virtualKeyId=7 amount=150 units=100 keySpentAfter=150 keyServiceSpentAfter=150 keyPeriodId=20514 "),
            text.get(2));
    }

    @Test
    void shouldAnswerWhyWasIRejected()
    {
        assertEquals(0, cli.run("journal", "--data", data, "--user", "42", "--virtual-key", "7", "--rejected"),
            cli.err);
        final List<String> lines = cli.out.lines().toList();
        assertEquals(2, lines.size(), cli.out);
        assertTrue(lines.get(0).endsWith("userId=42 serviceId=3 code=RATE_LIMITED amount=0 virtualKeyId=7 " +
            "units=50 retryAfterMillis=1500"), lines.get(0));
        assertTrue(lines.get(1).endsWith("userId=42 serviceId=3 code=VIRTUAL_KEY_REVOKED amount=1 virtualKeyId=7"),
            lines.get(1));

        assertEquals(0, cli.run("journal", "--data", data, "--code", "rate_limited,Spend_Window_Exceeded", "--json"),
            cli.err);
        assertEquals(List.of("17", "18"), sequences(cli.out));

        assertEquals(0, cli.run("journal", "--data", data, "--virtual-key", "7", "--code", "UNKNOWN_VIRTUAL_KEY",
            "--json"), cli.err);
        assertEquals(List.of("19"), sequences(cli.out), "another user naming the key");
        assertTrue(cli.out.contains("\"userId\":43"), cli.out);

        assertEquals(0, cli.run("journal", "--data", data, "--user", "42", "--code", "INSUFFICIENT_FUNDS"), cli.err);
        assertEquals("", cli.out, "none");
    }

    /**
     * A key's whole story: its settings, its rejections, and the charges and holds through it, each with its
     * POLICY_APPLIED (the charge itself names no key).
     */
    @Test
    void shouldListEverythingThroughAVirtualKey()
    {
        assertEquals(0, cli.run("journal", "--data", data, "--virtual-key", "7", "--json"), cli.err);
        assertEquals(List.of("2", "4", "5", "8", "11", "12", "13", "17", "19", "20", "21", "22", "23", "24", "25"),
            sequences(cli.out));
        assertEquals(0, cli.run("journal", "--data", data, "--virtual-key", "8", "--json"), cli.err);
        assertEquals(List.of("3", "15", "16"), sequences(cli.out));

        assertEquals(0, cli.run("journal", "--data", data, "--virtual-key", "7", "--type", "CHARGED,HOLD_OPENED",
            "--json"), cli.err);
        assertEquals(List.of("12", "20"), sequences(cli.out), "charges through the key, not their POLICY_APPLIED");
        assertEquals(0, cli.run("journal", "--data", data, "--virtual-key", "7", "--limit", "6", "--json"), cli.err);
        assertEquals(List.of("2", "4", "5", "8", "11", "12"), sequences(cli.out));
        assertEquals(0, cli.run("journal", "--data", data, "--virtual-key", "9"), cli.err);
        assertEquals("", cli.out);
    }

    @Test
    void shouldRefuseFiltersThatCannotMatch()
    {
        assertEquals(2, cli.run("journal", "--data", data, "--rejected", "--type", "CHARGED"));
        assertTrue(cli.err.contains("--rejected and --code list REJECTED outcomes, which --type leaves out"),
            cli.err);
        assertEquals(2, cli.run("journal", "--data", data, "--code", "RATE_LIMITED", "--type", "POLICY_APPLIED"));
        assertEquals(2, cli.run("journal", "--data", data, "--virtual-key", "0"));
        assertTrue(cli.err.contains("--virtual-key must be > 0"), cli.err);
        assertNotEquals(0, cli.run("journal", "--data", data, "--code", "RATE_LIMIT"));
        assertTrue(cli.err.contains("'RATE_LIMIT' is not a result code"), cli.err);
        assertEquals(0, cli.run("journal", "--help"));
        assertTrue(cli.out.contains("--virtual-key") && cli.out.contains("--rejected") && cli.out.contains("--code"),
            cli.out);
    }

    @Test
    void shouldFormatMultipliersExactly()
    {
        assertEquals("1.5", JournalCommand.multiplier(1_500_000));
        assertEquals("1", JournalCommand.multiplier(1_000_000));
        assertEquals("10", JournalCommand.multiplier(10_000_000));
        assertEquals("0.000001", JournalCommand.multiplier(1));
        assertEquals("9223372036854.775807", JournalCommand.multiplier(Long.MAX_VALUE));
    }

    private static String json(final int sequence, final String type, final String op, final long request,
        final long user, final String fields)
    {
        return "{\"sequence\":" + sequence + "," + AT + ",\"type\":\"" + type + "\",\"op\":\"" + op + "\"," +
            "\"requestId\":\"" + uuid(request) + "\",\"userId\":" + user + "," + fields + "}";
    }

    private static String uuid(final long request)
    {
        return new java.util.UUID(0, request).toString();
    }

    private static List<String> sequences(final String jsonLines)
    {
        return jsonLines.lines().map(line -> line.substring("{\"sequence\":".length(), line.indexOf(','))).toList();
    }
}
