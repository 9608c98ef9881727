package io.quotaledger.cli;

import io.quotaledger.journal.DataDir;
import io.quotaledger.journal.JournalReader;
import io.quotaledger.journal.Journals;
import io.quotaledger.journal.OwnerOnly;
import io.quotaledger.journal.SnapshotStore;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.File;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * Moves journal cycle files that recovery no longer needs out of the data directory: those whose every outcome is
 * already in the newest snapshot that checks out.
 */
@picocli.CommandLine.Command(
    name = "archive",
    mixinStandardHelpOptions = true,
    description = {
        "Moves journal cycle files that recovery no longer needs out of the data directory.",
        "",
        "Moves journal cycle files (DIR/journal/*.cq4) to ARCHIVE_DIR: a file goes " +
            "only when every outcome in it is at or before the newest snapshot that loads and checks out, and it is " +
            "not the newest cycle file; metadata.cq4t stays. Refuses when there is no valid snapshot (take one " +
            "with `ledger snapshot`).",
        "",
        "Run it while the ledger is stopped. Once the projector keeps a checkpoint, files it has not read yet " +
            "will be kept too. Afterwards `ledger verify` skips the checks that replay the journal alone.",
        "" })
final class ArchiveCommand implements Callable<Integer>
{
    @Mixin
    Tools.LedgerOptions options;

    @Option(names = "--to", required = true, paramLabel = "ARCHIVE_DIR",
        description = "Where the cycle files go (created if needed; an existing file there is never overwritten).")
    Path archive;

    @Option(names = "--dry-run", description = "List what would be moved, move nothing.")
    boolean dryRun;

    @Option(names = "--json", description = "Print the report as one JSON object.")
    boolean json;

    /**
     * What the scan found in one cycle file. Sequences are those of its well-formed documents.
     */
    static final class Cycle
    {
        final int cycle;
        final File file;
        long firstSequence = -1;
        long lastSequence = -1;
        long documents;
        long badDocuments;
        boolean complete = true; // false for the cycle the scan stopped in: it read only up to the snapshot
        boolean archive;
        String reason;

        Cycle(final int cycle, final File file)
        {
            this.cycle = cycle;
            this.file = file;
        }
    }

    public Integer call()
    {
        return Tools.run("archive", this::archive);
    }

    private int archive() throws Exception
    {
        final DataDir dir = options.dataDir();
        final Path target = archive.toAbsolutePath().normalize();
        if (target.startsWith(dir.journal()) || dir.journal().startsWith(target))
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "--to must be outside the journal folder " +
                dir.journal());
        }
        final SnapshotStore.Info base = newestValidSnapshot(dir);
        final List<Cycle> cycles = scan(dir, base.sequence());

        long moved = 0;
        long bytes = 0;
        for (final Cycle cycle : cycles)
        {
            if (!cycle.archive)
            {
                continue;
            }
            final Path from = cycle.file.toPath();
            final Path to = target.resolve(from.getFileName());
            bytes += Files.size(from);
            moved++;
            if (!dryRun)
            {
                OwnerOnly.createDirectories(target); // journal files are the ledger's data: owner-only, like DIR
                if (Files.exists(to))
                {
                    throw new Tools.ToolException(Tools.EXIT_FAILURE, to + " already exists; not overwritten (" +
                        (moved - 1) + " file(s) moved before it)");
                }
                Files.move(from, to);
            }
        }
        if (moved > 0 && !dryRun)
        {
            Journals.refreshListing(dir);
        }
        final long others = otherCycleFiles(dir, cycles);
        report(base, cycles, others, moved, bytes, target);
        return 0;
    }

    /**
     * @return the snapshot recovery would start from: the newest one the journal has reached that loads and checks out.
     */
    private SnapshotStore.Info newestValidSnapshot(final DataDir dir) throws Exception
    {
        final long journalEnd;
        try (JournalReader reader = JournalReader.open(dir))
        {
            journalEnd = reader.lastSequence();
        }
        final SnapshotStore store = new SnapshotStore(dir);
        final List<String> rejected = new ArrayList<>();
        for (final SnapshotStore.Info info : store.list())
        {
            if (info.sequence() > journalEnd)
            {
                rejected.add(info.path().getFileName() + ": beyond the journal's end " + journalEnd);
                continue;
            }
            try
            {
                store.load(info, options.newLedger().get());
                return info;
            }
            catch (final Exception ex)
            {
                rejected.add(ex.getMessage());
            }
        }
        throw new Tools.ToolException(Tools.EXIT_FAILURE, "no valid snapshot in " + store.folder() +
            (rejected.isEmpty() ? "" : " (" + String.join("; ", rejected) + ")") +
            ": nothing moved; take one with `ledger snapshot` first");
    }

    /**
     * Notes what each cycle file holds (read until an outcome after the snapshot turns up) and decides which files may
     * go: a prefix of the cycles, so the journal left behind stays contiguous.
     */
    private static List<Cycle> scan(final DataDir dir, final long snapshotSequence)
    {
        if (!Files.exists(dir.journal().resolve("metadata.cq4t")))
        {
            return List.of();
        }
        final JournalReader.CycleScan found;
        try (JournalReader reader = JournalReader.open(dir))
        {
            found = reader.cycles(snapshotSequence);
        }
        final List<Cycle> cycles = new ArrayList<>();
        for (final JournalReader.CycleInfo info : found.cycles())
        {
            final Cycle cycle = new Cycle(info.cycle(), info.file());
            cycle.firstSequence = info.firstSequence();
            cycle.lastSequence = info.lastSequence();
            cycle.documents = info.documents();
            cycle.badDocuments = info.badDocuments();
            cycles.add(cycle);
        }
        if (found.reachedStop())
        {
            cycles.get(cycles.size() - 1).complete = false;
        }
        // the file with the journal's last good document stays even when a newer, empty one exists: recovery takes
        // the journal's end from it, and a snapshot beyond the end would not be used
        Cycle lastWithOutcomes = null;
        for (final Cycle cycle : found.reachedStop() ? List.<Cycle>of() : cycles)
        {
            lastWithOutcomes = cycle.lastSequence >= 0 ? cycle : lastWithOutcomes;
        }
        boolean keeping = false;
        for (final Cycle cycle : cycles)
        {
            if (!keeping && cycle.cycle == found.lastCycle())
            {
                cycle.reason = "the newest cycle file";
                keeping = true;
            }
            else if (!keeping && cycle == lastWithOutcomes)
            {
                cycle.reason = "holds the journal's last outcome";
                keeping = true;
            }
            else if (!keeping && cycle.lastSequence > snapshotSequence)
            {
                cycle.reason = "holds outcomes after the snapshot";
                keeping = true;
            }
            else if (keeping)
            {
                cycle.reason = "after a file that stays";
            }
            else
            {
                cycle.archive = true;
            }
        }
        return cycles;
    }


    /**
     * @return cycle files in the journal folder that the scan did not reach (newer ones, or empty ones).
     */
    private static long otherCycleFiles(final DataDir dir, final List<Cycle> scanned) throws Exception
    {
        try (Stream<Path> files = Files.list(dir.journal()))
        {
            return files.filter(f -> f.getFileName().toString().endsWith(".cq4"))
                .filter(f -> scanned.stream().noneMatch(c -> c.file.toPath().toAbsolutePath().equals(f)))
                .count();
        }
    }

    private void report(
        final SnapshotStore.Info base,
        final List<Cycle> cycles,
        final long others,
        final long moved,
        final long bytes,
        final Path target)
    {
        if (json)
        {
            final StringBuilder out = new StringBuilder(512).append('{');
            out.append("\"snapshot\":").append(Tools.quote(base.path().getFileName().toString()))
                .append(",\"snapshotSequence\":").append(base.sequence())
                .append(",\"archiveDir\":").append(Tools.quote(target.toString()))
                .append(",\"dryRun\":").append(dryRun)
                .append(",\"moved\":").append(moved)
                .append(",\"bytes\":").append(bytes)
                .append(",\"otherCycleFiles\":").append(others)
                .append(",\"cycles\":[");
            String separator = "";
            for (final Cycle cycle : cycles)
            {
                out.append(separator).append("{\"file\":").append(Tools.quote(cycle.file.getName()))
                    .append(",\"cycle\":").append(cycle.cycle)
                    .append(",\"firstSequence\":").append(cycle.firstSequence)
                    .append(",\"lastSequence\":").append(cycle.complete ? cycle.lastSequence : -1)
                    .append(",\"documents\":").append(cycle.complete ? cycle.documents : -1)
                    .append(",\"badDocuments\":").append(cycle.badDocuments)
                    .append(",\"archive\":").append(cycle.archive)
                    .append(",\"reason\":").append(Tools.quote(cycle.reason)).append('}');
                separator = ",";
            }
            System.out.println(out.append("]}"));
            return;
        }
        System.out.printf("ledger archive: newest valid snapshot %s at sequence %,d%n", base.path().getFileName(),
            base.sequence());
        for (final Cycle cycle : cycles)
        {
            System.out.printf("  %-12s %s  %s%s%n",
                cycle.archive ? (dryRun ? "would move" : "moved") : "keep", cycle.file.getName(),
                cycle.complete ? String.format("sequences %,d to %,d, %,d document(s)", cycle.firstSequence,
                cycle.lastSequence, cycle.documents) : String.format("sequences from %,d", cycle.firstSequence),
                cycle.archive ? "" : ": " + cycle.reason);
        }
        if (others > 0)
        {
            System.out.printf("  keep         %d newer cycle file(s)%n", others);
        }
        System.out.printf("  %s %d file(s), %,d bytes, to %s%n", dryRun ? "would move" : "moved", moved, bytes,
            target);
    }
}
