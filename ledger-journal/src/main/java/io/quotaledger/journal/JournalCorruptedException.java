package io.quotaledger.journal;

/**
 * The journal is damaged somewhere other than its last document: acknowledged changes may be unreadable, so the
 * ledger refuses to start rather than guess. Restore the journal from a copy, or truncate it knowingly.
 */
public final class JournalCorruptedException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    public JournalCorruptedException(final String message)
    {
        super(message);
    }
}
