package io.quotaledger.journal;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A data directory is its owner's only: folders 0700, snapshot files 0600; a folder others may open is reported,
 * never changed.
 */
class DataDirTest
{
    @TempDir
    Path temp;

    private static String permissions(final Path path) throws IOException
    {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path));
    }

    @Test
    void shouldCreateFoldersAndSnapshotsForTheOwnerOnly() throws Exception
    {
        final DataDir dir = new DataDir(temp.resolve("a").resolve("data")).create();
        for (final Path folder : List.of(temp.resolve("a"), dir.root(), dir.journal(), dir.snapshots()))
        {
            assertEquals("rwx------", permissions(folder), folder.toString());
        }
        assertEquals(List.of(), dir.exposedFolders());

        final Path snapshot = new SnapshotStore(dir).write(1, 2, 3, new UnsafeBuffer(new byte[16]), 16);
        assertEquals("rw-------", permissions(snapshot));
    }

    @Test
    void shouldReportFoldersOthersMayOpenWithoutChangingThem() throws Exception
    {
        final DataDir dir = new DataDir(temp.resolve("data")).create();
        Files.setPosixFilePermissions(dir.journal(), PosixFilePermissions.fromString("rwxr-x---"));

        final List<String> warnings = new DataDir(dir.root()).create().exposedFolders();
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).startsWith(dir.journal() + " is rwxr-x---"), warnings.get(0));
        assertEquals("rwxr-x---", permissions(dir.journal()), "create() changed an existing folder");
        assertNull(OwnerOnly.exposed(dir.snapshots()));
    }
}
