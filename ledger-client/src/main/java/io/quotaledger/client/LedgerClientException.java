package io.quotaledger.client;

/**
 * The client cannot do what was asked: the key was refused, the client is closed, the server cannot be reached.
 * Ledger rejections are not exceptions: they are result codes in {@link LedgerResult}.
 */
public final class LedgerClientException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    public LedgerClientException(final String message)
    {
        super(message);
    }

    public LedgerClientException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
