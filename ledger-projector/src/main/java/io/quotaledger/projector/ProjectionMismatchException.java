package io.quotaledger.projector;

/**
 * The projected tables do not belong to the journal the projector reads: their checkpoint lies past the journal's
 * end, or the journal's outcome at the checkpoint is not the one they counted (the journal lost its end, an accepted
 * journal loss, and new outcomes took those sequence numbers; or the tables were projected from another journal).
 * Going on would skip outcomes and keep lost ones, so the projector refuses until the tables are rebuilt.
 */
public final class ProjectionMismatchException extends IllegalStateException
{
    /** What an operator does about it. */
    public static final String REMEDY = "not projecting until the tables are rebuilt from the journal: " +
        "ledger project --data DIR --rebuild (docs/operations.md, \"Torn tail versus corruption\")";

    private static final long serialVersionUID = 1L;

    private final String reason;

    /**
     * @param reason what does not match; the message adds {@link #REMEDY}.
     */
    public ProjectionMismatchException(final String reason)
    {
        super(reason + ": " + REMEDY);
        this.reason = reason;
    }

    /**
     * @return what does not match, without the remedy.
     */
    public String reason()
    {
        return reason;
    }
}
