package io.quotaledger.cli;

import io.quotaledger.core.Ledger;
import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Recovery;
import io.quotaledger.journal.SnapshotStore;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * Checks that the journal and the snapshots of a data directory tell the same story: the journal alone and the
 * newest snapshot plus the journal rebuild the same state, and the newest snapshot loads and holds exactly what the
 * journal says up to its sequence.
 */
@picocli.CommandLine.Command(
    name = "verify",
    mixinStandardHelpOptions = true,
    description = {
        "Checks that the journal and the snapshots of a data directory agree.",
        "",
        "Rebuilds the state from the journal alone and from the newest snapshot plus the " +
            "journal and compares them; loads the newest snapshot and compares it with the journal replayed up to " +
            "its sequence.",
        "",
        "Exit code 1 on any mismatch, damaged snapshot or corrupted journal (anything that would stop 'ledger " +
            "serve' from starting). Checks that need the journal from " +
            "sequence 1 are skipped once old cycles were archived. Reads only.",
        "" })
final class VerifyCommand implements Callable<Integer>
{
    @Mixin
    Tools.LedgerOptions options;

    @Option(names = "--json", description = "Print the report as one JSON object.")
    boolean json;

    /**
     * One check and how it went.
     *
     * @param status pass, fail or skip.
     */
    record Check(String name, String status, String detail)
    {
    }

    private final List<Check> checks = new ArrayList<>();

    public Integer call()
    {
        return Tools.run("verify", this::verify);
    }

    private int verify() throws Exception
    {
        final DataDir dir = options.dataDir();
        final Supplier<Ledger> newLedger = options.newLedger();
        final SnapshotStore store = new SnapshotStore(dir);

        final long journalFirst;
        final long journalEnd;
        try (JournalReader reader = JournalReader.open(dir))
        {
            Recovery.check(dir); // what recovery would refuse: a damaged end, a snapshot beyond it
            journalEnd = reader.lastSequence();
            final JournalReader.ReadResult first = reader.read(0, (sequence, outcome) -> false);
            journalFirst = first.outcomes() == 0 ? 0 : first.lastSequence();
        }
        catch (final RuntimeException ex)
        {
            fail("journal", message(ex));
            return report(0, 0);
        }
        // a journal whose first cycles were archived can no longer be replayed alone
        final String archived = journalFirst > 1 ?
            "the journal starts at sequence " + journalFirst + " (older cycles archived)" : null;

        for (final Path damaged : store.damaged())
        {
            fail("snapshot " + damaged.getFileName(), "damaged header");
        }
        final List<SnapshotStore.Info> snapshots = store.list();
        final SnapshotStore.Info newest = snapshots.isEmpty() ? null : snapshots.get(0);

        // (a) the journal alone
        Recovery.Result alone = null;
        if (archived != null)
        {
            checks.add(new Check("journal alone", "skip", archived));
        }
        else
        {
            try
            {
                alone = Tools.recover("verify: journal", dir, newLedger, false, Recovery.Limit.END);
                pass("journal alone", String.format("%,d outcomes to sequence %,d, checksum %016x%s",
                    alone.replayed(), alone.lastSequence(), alone.ledger().checksum(),
                    alone.tornTail() == null ? "" : "; skipped, nothing lost now: " + alone.tornTail()));
            }
            catch (final Exception ex)
            {
                fail("journal alone", message(ex));
            }
        }
        final long aloneChecksum = alone == null ? 0 : alone.ledger().checksum();
        final long aloneSequence = alone == null ? -1 : alone.lastSequence();
        alone = null; // let its memory go before the next replay

        // (b) the newest snapshot, then the journal
        if (newest == null)
        {
            checks.add(new Check("snapshot + journal", "skip", "no snapshot"));
        }
        else
        {
            try
            {
                final Recovery.Result recovered = Tools.recover("verify: snapshot", dir, newLedger, true,
                    Recovery.Limit.END);
                final long checksum = recovered.ledger().checksum();
                final String from = recovered.snapshot() == null ? "no snapshot" :
                    recovered.snapshot().path().getFileName().toString();
                if (!recovered.rejectedSnapshots().isEmpty() || recovered.snapshot() == null ||
                    recovered.snapshot().sequence() != newest.sequence())
                {
                    fail("snapshot + journal", "recovery started from " + from + "; passed over: " +
                        String.join("; ", recovered.rejectedSnapshots()));
                }
                else if (aloneSequence >= 0 && (checksum != aloneChecksum || recovered.lastSequence() != aloneSequence))
                {
                    fail("snapshot + journal", String.format(
                        "from %s: checksum %016x at sequence %,d, the journal alone gives %016x at %,d", from,
                        checksum, recovered.lastSequence(), aloneChecksum, aloneSequence));
                }
                else
                {
                    pass("snapshot + journal", String.format("from %s plus %,d outcomes: checksum %016x%s", from,
                        recovered.replayed(), checksum, aloneSequence >= 0 ? ", same as the journal alone" : ""));
                }
            }
            catch (final Exception ex)
            {
                fail("snapshot + journal", message(ex));
            }
        }

        // (c) the newest snapshot itself, against the journal up to its sequence
        if (newest != null)
        {
            final String name = newest.path().getFileName().toString();
            try
            {
                store.load(newest, newLedger.get());
                pass("snapshot " + name + " loads", String.format("payload and state checksum %016x check out",
                    newest.checksum()));
            }
            catch (final Exception ex)
            {
                fail("snapshot " + name + " loads", message(ex));
            }
            if (archived != null)
            {
                checks.add(new Check("snapshot " + name + " = journal", "skip", archived));
            }
            else if (newest.sequence() > journalEnd)
            {
                fail("snapshot " + name + " = journal", String.format(
                    "snapshot at sequence %,d is beyond the journal's end %,d", newest.sequence(), journalEnd));
            }
            else
            {
                try
                {
                    final Recovery.Result upTo = Tools.recover("verify: to snapshot", dir, newLedger, false,
                        new Recovery.Limit(newest.sequence(), Long.MAX_VALUE));
                    final long checksum = upTo.ledger().checksum();
                    if (upTo.lastSequence() != newest.sequence() || checksum != newest.checksum())
                    {
                        fail("snapshot " + name + " = journal", String.format(
                            "journal to sequence %,d gives %016x, the snapshot at %,d says %016x",
                            upTo.lastSequence(), checksum, newest.sequence(), newest.checksum()));
                    }
                    else
                    {
                        pass("snapshot " + name + " = journal", String.format(
                            "journal replayed to sequence %,d gives the snapshot's checksum %016x",
                            newest.sequence(), checksum));
                    }
                }
                catch (final Exception ex)
                {
                    fail("snapshot " + name + " = journal", message(ex));
                }
            }
        }
        return report(journalFirst, journalEnd);
    }

    private int report(final long journalFirst, final long journalEnd)
    {
        final boolean ok = checks.stream().noneMatch(c -> "fail".equals(c.status()));
        if (json)
        {
            final StringBuilder out = new StringBuilder(512).append('{');
            out.append("\"data\":").append(Tools.quote(options.data.toAbsolutePath().toString()))
                .append(",\"journalFirst\":").append(journalFirst)
                .append(",\"journalEnd\":").append(journalEnd)
                .append(",\"ok\":").append(ok)
                .append(",\"checks\":[");
            String separator = "";
            for (final Check check : checks)
            {
                out.append(separator).append("{\"name\":").append(Tools.quote(check.name()))
                    .append(",\"status\":").append(Tools.quote(check.status()))
                    .append(",\"detail\":").append(Tools.quote(check.detail())).append('}');
                separator = ",";
            }
            System.out.println(out.append("]}"));
        }
        else
        {
            System.out.printf("ledger verify: %s (journal sequences %,d to %,d)%n", options.data.toAbsolutePath(),
                journalFirst, journalEnd);
            for (final Check check : checks)
            {
                System.out.printf("  %-4s  %s: %s%n", check.status().toUpperCase(java.util.Locale.ROOT), check.name(),
                    check.detail());
            }
            System.out.println(ok ? "  all checks passed" : "  VERIFY FAILED");
        }
        if (!ok)
        {
            System.err.println("ledger verify: " + checks.stream().filter(c -> "fail".equals(c.status())).count() +
                " check(s) failed");
        }
        return ok ? 0 : Tools.EXIT_FAILURE;
    }

    private void pass(final String name, final String detail)
    {
        checks.add(new Check(name, "pass", detail));
    }

    private void fail(final String name, final String detail)
    {
        checks.add(new Check(name, "fail", detail));
    }

    private static String message(final Exception ex)
    {
        return ex.getMessage() == null ? ex.toString() : ex.getClass().getSimpleName() + ": " + ex.getMessage();
    }
}
