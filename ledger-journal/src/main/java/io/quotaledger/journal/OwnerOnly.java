package io.quotaledger.journal;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;

/**
 * The ledger's files are its owner's only: folders it creates are 0700 and files it writes itself 0600. Java has no
 * umask, and Chronicle Queue creates its files with the process umask, so the owner-only folders are what keeps other
 * users out of the journal. Nothing that exists already is changed: a wider mode may be on purpose (a backup group),
 * so {@link #exposed(Path)} lets the caller warn instead.
 */
public final class OwnerOnly
{
    private static final boolean POSIX = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
    private static final Set<PosixFilePermission> GROUP_OR_OTHERS = EnumSet.of(
        PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
        PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private OwnerOnly()
    {
    }

    /**
     * Creates a folder and its missing parents, each new one 0700 (as far as the umask allows: it only removes bits).
     *
     * @return the folder.
     */
    public static Path createDirectories(final Path dir) throws IOException
    {
        if (Files.isDirectory(dir))
        {
            return dir;
        }
        return POSIX ? Files.createDirectories(dir, folderAttribute()) : Files.createDirectories(dir);
    }

    /**
     * Creates an empty file that is 0600 from its first moment (no window in which another user could open it).
     *
     * @throws java.nio.file.FileAlreadyExistsException when it exists.
     */
    public static Path createFile(final Path file) throws IOException
    {
        return POSIX ? Files.createFile(file, fileAttribute()) : Files.createFile(file);
    }

    /**
     * @return the attributes to create a file with: 0600 where the file system has POSIX permissions, else none.
     */
    public static FileAttribute<?>[] fileAttributes()
    {
        return POSIX ? new FileAttribute<?>[] { fileAttribute() } : new FileAttribute<?>[0];
    }

    /**
     * @return the permissions ("rwxr-xr-x") when the group or others may do anything with the path, else null (also
     *     when it does not exist or the file system has no POSIX permissions).
     */
    public static String exposed(final Path path)
    {
        if (!POSIX || !Files.exists(path))
        {
            return null;
        }
        try
        {
            final Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(path);
            for (final PosixFilePermission permission : permissions)
            {
                if (GROUP_OR_OTHERS.contains(permission))
                {
                    return PosixFilePermissions.toString(permissions);
                }
            }
            return null;
        }
        catch (final IOException ex)
        {
            return null; // cannot tell: whoever reads the path next reports the real problem
        }
    }

    private static FileAttribute<Set<PosixFilePermission>> folderAttribute()
    {
        return PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    }

    private static FileAttribute<Set<PosixFilePermission>> fileAttribute()
    {
        return PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));
    }
}
