package io.quotaledger.journal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

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
     * Creates the folders that do not exist yet.
     *
     * @return this.
     */
    public DataDir create() throws IOException
    {
        Files.createDirectories(journal());
        Files.createDirectories(snapshots());
        return this;
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
