package io.quotaledger.client;

/**
 * What a request sent in the callback form is answered through: one handler can serve any number of requests, and
 * tells them apart by their request ids. Nothing is allocated per request or per result on this path.
 *
 * <p>Results are delivered on the client's I/O thread: do little there (a handler may send further requests).
 * A handler that throws is reported to that thread's uncaught-exception handler; the client carries on.
 */
public interface ResultHandler
{
    /**
     * The ledger's answer (OK or a rejection: see {@link ResultView#code()}). Called once per request, even when the
     * request was sent more than once.
     *
     * @param result valid during this call only: the client reuses it for the next result. Keep a copy with
     *               {@link ResultView#toResult()}.
     */
    void onResult(ResultView result);

    /**
     * No result will come for this request. Called on the I/O thread after the last attempt timed out or the key was
     * refused, on the closing thread for the requests pending when the client is closed, and on the caller's thread
     * when the client was closed already or has too many requests in flight.
     *
     * @param requestIdHi the request's id, high half (0 for a QUERY or a snapshot).
     * @param requestIdLo the request's id, low half.
     * @param cause       a {@link java.util.concurrent.TimeoutException} after every attempt, else a
     *                    {@link LedgerClientException}.
     */
    void onFailure(long requestIdHi, long requestIdLo, Throwable cause);
}
