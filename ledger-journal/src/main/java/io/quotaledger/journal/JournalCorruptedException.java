package io.quotaledger.journal;

/**
 * The journal lost or cannot show complete documents (a checksum that fails, headers zeroed, a file cut short, a
 * gap, a snapshot proving it once reached further): acknowledged changes may be gone, so the ledger refuses to start
 * rather than guess. Only a torn tail, a last write that never completed, is skipped silently.
 */
public final class JournalCorruptedException extends RuntimeException
{
    /** What an operator can do about damage at the journal's end. */
    public static final String REMEDY = "restore the journal from a copy (then run ledger verify), or start the " +
        "ledger once with --accept-journal-loss to go on from what is readable and lose the rest " +
        "(docs/operations.md, \"Torn tail versus corruption\")";

    private static final long serialVersionUID = 1L;

    public JournalCorruptedException(final String message)
    {
        super(message);
    }
}
