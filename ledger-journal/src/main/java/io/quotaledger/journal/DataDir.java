package io.quotaledger.journal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The layout of a ledger's data directory: one place that names the folders.
 *
 * <pre>
 * DIR/journal/     Chronicle Queue cycle files (*.cq4) and its metadata
 * DIR/snapshots/   snapshot-&lt;sequence&gt;.snap, newest last
 * DIR/damaged/     journal files and snapshots set aside when a journal loss was accepted
 * </pre>
 */
public final class DataDir
{
    private final Path root;

    public DataDir(final Path root)
    {
        this.root = root.toAbsolutePath().normalize();
    }

    public Path root()
    {
        return root;
    }

    public Path journal()
    {
        return root.resolve("journal");
    }

    public Path snapshots()
    {
        return root.resolve("snapshots");
    }

    /**
     * @return where files set aside by an accepted journal loss are kept (created when needed).
     */
    public Path damaged()
    {
        return root.resolve("damaged");
    }

    /**
     * Creates the folders that do not exist yet, readable by their owner only (0700).
     *
     * @return this.
     */
    public DataDir create() throws IOException
    {
        OwnerOnly.createDirectories(root);
        OwnerOnly.createDirectories(journal());
        OwnerOnly.createDirectories(snapshots());
        return this;
    }

    /**
     * @return a warning for each of the root, journal and snapshot folders that the group or others may open (made so
     *     by hand, or by a version that did not create them owner-only); empty when there is none.
     */
    public List<String> exposedFolders()
    {
        final List<String> warnings = new ArrayList<>();
        for (final Path folder : List.of(root, journal(), snapshots()))
        {
            final String permissions = OwnerOnly.exposed(folder);
            if (permissions != null)
            {
                warnings.add(folder + " is " + permissions + ": other users may read the ledger's data " +
                    "(chmod 700 " + folder + ")");
            }
        }
        return warnings;
    }

    public boolean hasJournal()
    {
        return Files.isDirectory(journal());
    }

    public String toString()
    {
        return root.toString();
    }
}
