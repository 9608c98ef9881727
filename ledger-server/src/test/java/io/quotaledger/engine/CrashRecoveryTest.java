package io.quotaledger.engine;

import io.quotaledger.core.Command;
import io.quotaledger.core.Ledger;
import io.quotaledger.core.LedgerConfig;
import io.quotaledger.core.Op;
import io.quotaledger.core.OutcomeSink;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Result;
import io.quotaledger.core.ResultCode;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.Durability;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Journals;
import io.quotaledger.journal.Recovery;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The journal's promise, tested with kill -9: a child JVM runs the durable ledger under a concurrent workload and is
 * killed at a random moment, again and again on the same data directory. Afterwards every request it acknowledged is
 * still there (a retry is a duplicate with the same result), and retrying every request ever sent applies none twice.
 *
 * <p>{@code -Dledger.crash.cycles=N} (default 5), {@code -Dledger.crash.durability=process|fsync} (process: every
 * cycle but the third, which uses FSYNC), {@code -Dledger.crash.threading=alternate|shared|dedicated} (alternate:
 * shared threading in odd cycles, dedicated in even ones, so each recovers what the other left),
 * {@code -Dledger.crash.seed=S} to replay a run. See scripts/crash-test.
 */
class CrashRecoveryTest
{
    private static final int CHUNK = 30_000;
    private static final int PRODUCERS = 3;

    @TempDir
    Path temp;

    @Test
    void shouldLoseNothingAcknowledgedAndApplyNothingTwiceAcrossKills() throws Exception
    {
        final long seed = Long.getLong("ledger.crash.seed", System.nanoTime());
        final int cycles = Integer.getInteger("ledger.crash.cycles", 5);
        final String durabilityMode = System.getProperty("ledger.crash.durability", "process").toLowerCase(Locale.ROOT);
        final String threadingMode = System.getProperty("ledger.crash.threading", "alternate").toLowerCase(Locale.ROOT);
        System.out.println("crash test seed " + seed + " (replay with -Dledger.crash.seed=" + seed + ")");
        try
        {
            run(seed, cycles, durabilityMode, threadingMode);
        }
        catch (final AssertionError | Exception ex)
        {
            throw new AssertionError("crash test failed with seed " + seed + ": " + ex.getMessage(), ex);
        }
    }

    private static Threading threading(final String mode, final int cycle)
    {
        return "alternate".equals(mode) ? (cycle % 2 == 1 ? Threading.SHARED : Threading.DEDICATED) :
            Threading.valueOf(mode.toUpperCase(Locale.ROOT));
    }

    private void run(final long seed, final int cycles, final String durabilityMode, final String threadingMode)
        throws Exception
    {
        final Random random = new Random(seed);
        final DataDir dir = new DataDir(temp.resolve("data"));
        final Path ackedFile = temp.resolve("acked.txt");
        final LedgerConfig ledgerConfig = CrashWorkload.ledgerConfig(cycles, CHUNK);
        final Map<Long, Integer> acked = new HashMap<>();
        final List<String> report = new ArrayList<>();
        int snapshots = 0;
        final long started = System.currentTimeMillis();

        for (int cycle = 1; cycle <= cycles; cycle++)
        {
            final Durability durability = "fsync".equals(durabilityMode) || cycle == Math.min(3, cycles) ?
                Durability.FSYNC : Durability.PROCESS;
            final Threading threading = threading(threadingMode, cycle);
            Files.writeString(ackedFile, acked.keySet().stream().map(String::valueOf)
                .collect(Collectors.joining("\n")));
            final long killAfter = 300 + random.nextInt(1201);
            // a snapshot at a random moment in most cycles, early enough to finish before the kill as a rule
            final long snapshotDelay = cycle > 1 && random.nextInt(3) == 0 ? -1 : random.nextInt((int)killAfter / 2);

            final Child child = Child.start(dir, seed, cycle, cycles, durability, threading, ackedFile, snapshotDelay);
            final String recovered = child.awaitReady(30_000);
            Thread.sleep(killAfter);
            child.kill();

            // each request, once accepted, is one outcome or two (a charge and its POLICY_APPLIED; no hold expires):
            // the journal holds at least one per ack
            final long recoveredSequence = Long.parseLong(recovered.split(" ")[1]);
            assertTrue(recoveredSequence >= acked.size(),
                "cycle " + cycle + " recovered " + recoveredSequence + " outcomes, " + acked.size() + " acknowledged");

            final ChildOutput output = child.output();
            int acks = 0;
            int duplicates = 0;
            for (final String line : output.lines())
            {
                final String[] fields = line.split(" ");
                switch (fields[0])
                {
                    case "ACK" ->
                    {
                        final long key = CrashWorkload.keyOf(Long.parseLong(fields[1]), Long.parseLong(fields[2]));
                        final int code = Integer.parseInt(fields[3]);
                        assertTrue(key >= 0, "acknowledged a request not in the workload: " + line);
                        assertEquals(ResultCode.OK.code(), code, "funds always suffice, yet: " + line);
                        final Integer before = acked.putIfAbsent(key, code);
                        assertTrue(before == null || before == code, "two different results for " + line);
                        acks++;
                        duplicates += "1".equals(fields[4]) ? 1 : 0;
                    }
                    case "SNAPSHOT" -> snapshots++;
                    default ->
                    {
                        // RECOVERED, READY, DONE: for the report
                    }
                }
            }
            // the child's warnings show what the kill left behind (a write lock taken over, a torn document)
            final String warnings = output.stderr().lines().filter(l -> l.contains(" WARN ") || l.contains(" ERROR "))
                .map(l -> "\n    child: " + l).collect(Collectors.joining());
            final String firstAck = output.lines().stream().filter(l -> l.startsWith("FIRST_ACK"))
                .map(l -> l.substring("FIRST_ACK ".length())).findFirst().orElse("none");
            report.add(String.format(
                "cycle %d %s %s: %s; killed after %d ms, first ack after %s, %d acks (%d duplicates)%s%s%s",
                cycle, durability, threading.label(), recovered, killAfter, firstAck, acks, duplicates,
                output.lines().stream().anyMatch(l -> l.startsWith("SNAPSHOT")) ? ", snapshot" : "",
                output.lines().stream().anyMatch(l -> l.startsWith("DONE")) ? ", idle at kill" : "", warnings));
        }
        report.forEach(System.out::println);
        System.out.println(cycles + " kill cycles in " + (System.currentTimeMillis() - started) + " ms");
        assertTrue(acked.size() > CrashWorkload.setup().size(), "no cycle got past its start: nothing was tested");

        // (c) the snapshot and the journal tell the same story
        final Supplier<Ledger> newLedger = () -> new Ledger(ledgerConfig, OutcomeSink.NONE);
        final Recovery.Result journalOnly = Recovery.recover(
            dir, newLedger, false, Recovery.Limit.END, Recovery.Progress.NONE);
        final Recovery.Result fromSnapshot = Recovery.recover(dir, newLedger);
        System.out.println("final recovery: journal ends at " + journalOnly.lastSequence() + ", torn tail " +
            journalOnly.tornTail() + ", snapshot " + (fromSnapshot.snapshot() == null ? "none" :
            fromSnapshot.snapshot().sequence()) + ", " + snapshots + " snapshots taken");
        assertEquals(journalOnly.lastSequence(), fromSnapshot.lastSequence());
        assertEquals(journalOnly.ledger().checksum(), fromSnapshot.ledger().checksum());
        if (snapshots > 0)
        {
            assertNotNull(fromSnapshot.snapshot(), "snapshots were written but recovery used none");
        }

        final long finalSnapshot;
        final long finalChecksum;
        try (LedgerRuntime runtime = LedgerRuntime.start(
            new LedgerRuntime.Settings(dir, Durability.PROCESS, Journals.rollCycle("daily"), 0, 0, 2),
            new EngineConfig().ledger(ledgerConfig).threading(threading(threadingMode, cycles + 1))))
        {
            assertEquals(journalOnly.ledger().checksum(), checksumOf(runtime));

            // (a) every acknowledged request survived: its retry is a duplicate with the same result
            final List<CrashWorkload.Request> all = new ArrayList<>(CrashWorkload.setup());
            for (int cycle = 1; cycle <= cycles; cycle++)
            {
                all.addAll(CrashWorkload.chunk(seed, cycle, CHUNK, PRODUCERS));
            }
            final List<CrashWorkload.Request> acknowledged = all.stream()
                .filter(request -> acked.containsKey(request.key())).toList();
            assertEquals(acked.size(), acknowledged.size());
            final Result[] ackedRetries = submitAll(runtime.engine(), acknowledged);
            for (int i = 0; i < acknowledged.size(); i++)
            {
                final CrashWorkload.Request request = acknowledged.get(i);
                assertTrue(ackedRetries[i].duplicate(), "acknowledged, then lost: " + request);
                assertEquals(acked.get(request.key()).intValue(), ackedRetries[i].code().code(), request.toString());
            }

            // a snapshot between the two, so that (c) is checked once more whatever the kills cut short
            finalSnapshot = runtime.snapshotter().snapshot().get(30, TimeUnit.SECONDS).sequence();

            // (b) retrying everything ever sent (and the rest of every chunk) applies each request exactly once
            final Result[] retries = submitAll(runtime.engine(), all);
            int applied = 0;
            for (int i = 0; i < all.size(); i++)
            {
                assertEquals(ResultCode.OK, retries[i].code(), all.get(i).toString());
                applied += retries[i].duplicate() ? 0 : 1;
            }
            assertEquals(all.size() - requestsIn(dir, journalOnly.lastSequence()), applied,
                "only what was never journaled is new");
            assertEquals(all.size(), requestsIn(dir, runtime.journal().lastSequence()), "every request once, none twice");
            final long[] expected = CrashWorkload.expectedBalances(all);
            final Command query = new Command();
            for (int user = 1; user <= CrashWorkload.USERS; user++)
            {
                final Result result = runtime.engine().execute(
                    query.reset().op(Op.QUERY).userId(user).serviceId(CrashWorkload.SERVICE), 5, TimeUnit.SECONDS);
                assertEquals(expected[user], result.balance(), "balance of user " + user);
                assertEquals(0, result.held(), "held by user " + user);
            }
            final long[] keySpend = CrashWorkload.expectedKeySpend(all);
            for (int user = 2; user <= CrashWorkload.USERS; user += 2)
            {
                final Result result = runtime.engine().execute(query.reset().op(Op.QUERY).userId(user)
                    .virtualKeyId(CrashWorkload.keyOfUser(user)), 5, TimeUnit.SECONDS);
                assertEquals(keySpend[user], result.keySpent(), "spent through the key of user " + user);
            }
            System.out.println(acked.size() + " acknowledged of " + all.size() + " requests; all " + all.size() +
                " retried, balances exact");
            finalChecksum = checksumOf(runtime);
        }

        // (c) again, on the final state: the snapshot taken above plus the journal after it, against the journal alone
        final Recovery.Result fromFinalSnapshot = Recovery.recover(dir, newLedger);
        assertEquals(finalSnapshot, fromFinalSnapshot.snapshot().sequence());
        assertEquals(finalChecksum, fromFinalSnapshot.ledger().checksum());
        assertEquals(finalChecksum, Recovery.recover(
            dir, newLedger, false, Recovery.Limit.END, Recovery.Progress.NONE).ledger().checksum());
        System.out.println("all checks done " + (System.currentTimeMillis() - started) + " ms after the first start");
    }

    private static long checksumOf(final LedgerRuntime runtime) throws Exception
    {
        final CompletableFuture<Long> checksum = new CompletableFuture<>();
        runtime.engine().requestState((ledger, sequence, timestamp) -> checksum.complete(ledger.checksum()));
        return checksum.get(10, TimeUnit.SECONDS);
    }

    /**
     * Sends requests in order from one thread (a RESERVE before its SETTLE) and waits for all their results.
     */
    private static Result[] submitAll(final LedgerEngine engine, final List<CrashWorkload.Request> requests)
        throws InterruptedException
    {
        final Result[] results = new Result[requests.size()];
        final CountDownLatch done = new CountDownLatch(requests.size());
        final ResultListener listener = (correlationId, arrivalNanos, command, result) ->
        {
            results[(int)correlationId] = new Result().copyFrom(result);
            done.countDown();
        };
        final Command command = new Command();
        for (int i = 0; i < requests.size(); i++)
        {
            engine.submit(requests.get(i).fill(command), listener, i);
        }
        assertTrue(done.await(60, TimeUnit.SECONDS), "results missing");
        return results;
    }

    /**
     * What a killed child printed: only lines it finished (ending in a newline), and its stderr for diagnostics.
     */
    private record ChildOutput(List<String> lines, String stderr)
    {
    }

    /**
     * A {@link CrashChild} in its own JVM.
     */
    private static final class Child
    {
        private final ChildJvm jvm;

        private Child(final ChildJvm jvm)
        {
            this.jvm = jvm;
        }

        static Child start(
            final DataDir dir,
            final long seed,
            final int cycle,
            final int cycles,
            final Durability durability,
            final Threading threading,
            final Path ackedFile,
            final long snapshotDelay) throws IOException
        {
            // C1 only: the child lives about a second, and starts faster without C2 competing for the cores
            return new Child(ChildJvm.start(List.of("-Xmx1g", "-XX:TieredStopAtLevel=1"), CrashChild.class, List.of(
                dir.root().toString(), Long.toString(seed), Integer.toString(cycle), Integer.toString(cycles),
                durability.name(), Integer.toString(CHUNK), Integer.toString(PRODUCERS), ackedFile.toString(),
                Long.toString(snapshotDelay), threading.name())));
        }

        /**
         * @return the child's RECOVERED line.
         */
        String awaitReady(final long timeoutMs) throws Exception
        {
            jvm.awaitLine("READY", timeoutMs);
            return jvm.lines().stream().filter(l -> l.startsWith("RECOVERED")).findFirst().orElseThrow();
        }

        void kill() throws InterruptedException
        {
            jvm.kill();
        }

        ChildOutput output()
        {
            return new ChildOutput(jvm.lines(), jvm.stderr());
        }
    }

    /**
     * @return how many requests the journal holds up to {@code lastSequence}: every outcome but the POLICY_APPLIED
     * that follows a charge touching policy (nothing is rejected and no hold expires in this workload).
     */
    private static long requestsIn(final DataDir dir, final long lastSequence) throws IOException
    {
        final long[] requests = new long[1];
        try (JournalReader reader = JournalReader.open(dir))
        {
            reader.read(0, (sequence, outcome) ->
            {
                if (sequence > lastSequence)
                {
                    return false;
                }
                requests[0] += outcome.type() == OutcomeType.POLICY_APPLIED ? 0 : 1;
                return true;
            });
        }
        return requests[0];
    }
}
