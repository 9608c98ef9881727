package io.quotaledger.bench.compare;

import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.client.ResultHandler;
import io.quotaledger.protocol.Period;

import java.io.IOException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The Java client's virtual-key operations (issue 12) that the virtual-key scenario drives the ledger with:
 * SetVirtualKey, SetRateLimit, DEDUCT through a key (the callback form) and QUERY of a key.
 *
 * <p>This module was written while those operations were being added to the client on another branch, so it binds
 * them by name and exact signature when the scenario first needs them instead of calling them directly. Once the
 * client with them is merged, each method here is to become the direct call its comment names (and this class can
 * go). A client without them fails the scenario's set-up with an exception naming the missing operation, which fails
 * the ledger's check of the scenario; no other scenario needs them.
 */
final class ClientPolicy
{
    private static final MethodHandles.Lookup LOOKUP = MethodHandles.publicLookup();

    private final MethodHandle setVirtualKey;
    private final MethodHandle setRateLimit;
    private final MethodHandle deduct;
    private final MethodHandle query;
    private final MethodHandle keySpent;

    private ClientPolicy(final MethodHandle setVirtualKey, final MethodHandle setRateLimit, final MethodHandle deduct,
        final MethodHandle query, final MethodHandle keySpent)
    {
        this.setVirtualKey = setVirtualKey;
        this.setRateLimit = setRateLimit;
        this.deduct = deduct;
        this.query = query;
        this.keySpent = keySpent;
    }

    /**
     * @throws IOException naming the first operation the client on the class path lacks.
     */
    static ClientPolicy bind() throws IOException
    {
        return new ClientPolicy(
            find(LedgerClient.class, "setVirtualKey", MethodType.methodType(CompletableFuture.class, long.class,
                long.class, long.class, boolean.class, Period.class, long.class, long.class, int[].class)),
            find(LedgerClient.class, "setRateLimit", MethodType.methodType(CompletableFuture.class, long.class,
                long.class, long.class, long.class, Duration.class)),
            find(LedgerClient.class, "deduct", MethodType.methodType(void.class, long.class, long.class, long.class,
                int.class, long.class, long.class, long.class, ResultHandler.class)),
            find(LedgerClient.class, "query", MethodType.methodType(CompletableFuture.class, long.class, int.class,
                long.class)),
            find(LedgerResult.class, "keySpent", MethodType.methodType(long.class)));
    }

    /**
     * {@code client.setVirtualKey(userId, virtualKeyId, budget, false, null, resetMillis, 0, null)}: a key with a
     * budget per {@code resetMillis} (counted from now), no expiry, every service allowed.
     */
    @SuppressWarnings("unchecked")
    CompletableFuture<LedgerResult> setVirtualKey(final LedgerClient client, final long userId,
        final long virtualKeyId, final long budget, final long resetMillis)
    {
        try
        {
            return (CompletableFuture<LedgerResult>)(CompletableFuture<?>)setVirtualKey.invokeExact(client, userId,
                virtualKeyId, budget, false, (Period)null, resetMillis, 0L, (int[])null);
        }
        catch (final Throwable ex)
        {
            throw rethrown(ex);
        }
    }

    /**
     * {@code client.setRateLimit(userId, virtualKeyId, requests, 0, per)}: a limit on requests only.
     */
    @SuppressWarnings("unchecked")
    CompletableFuture<LedgerResult> setRateLimit(final LedgerClient client, final long userId,
        final long virtualKeyId, final long requests, final Duration per)
    {
        try
        {
            return (CompletableFuture<LedgerResult>)(CompletableFuture<?>)setRateLimit.invokeExact(client, userId,
                virtualKeyId, requests, 0L, per);
        }
        catch (final Throwable ex)
        {
            throw rethrown(ex);
        }
    }

    /**
     * {@code client.deduct(requestIdHi, requestIdLo, userId, serviceId, amount, virtualKeyId, 0, handler)}.
     */
    void deduct(final LedgerClient client, final long requestIdHi, final long requestIdLo, final long userId,
        final int serviceId, final long amount, final long virtualKeyId, final ResultHandler handler)
    {
        try
        {
            deduct.invokeExact(client, requestIdHi, requestIdLo, userId, serviceId, amount, virtualKeyId, 0L, handler);
        }
        catch (final Throwable ex)
        {
            throw rethrown(ex);
        }
    }

    /**
     * {@code client.query(userId, serviceId, virtualKeyId)}.
     */
    @SuppressWarnings("unchecked")
    CompletableFuture<LedgerResult> query(final LedgerClient client, final long userId, final int serviceId,
        final long virtualKeyId)
    {
        try
        {
            return (CompletableFuture<LedgerResult>)(CompletableFuture<?>)query.invokeExact(client, userId,
                serviceId, virtualKeyId);
        }
        catch (final Throwable ex)
        {
            throw rethrown(ex);
        }
    }

    /**
     * {@code result.keySpent()}.
     */
    long keySpent(final LedgerResult result)
    {
        try
        {
            return (long)keySpent.invokeExact(result);
        }
        catch (final Throwable ex)
        {
            throw rethrown(ex);
        }
    }

    private static MethodHandle find(final Class<?> type, final String name, final MethodType signature)
        throws IOException
    {
        try
        {
            return LOOKUP.findVirtual(type, name, signature);
        }
        catch (final NoSuchMethodException | IllegalAccessException ex)
        {
            throw new IOException("the ledger client on the class path has no " + type.getSimpleName() + "." + name +
                signature + " (issue 12's client operations): the virtual-key scenario cannot drive the ledger", ex);
        }
    }

    private static RuntimeException rethrown(final Throwable ex)
    {
        if (ex instanceof RuntimeException runtime)
        {
            throw runtime;
        }
        if (ex instanceof Error error)
        {
            throw error;
        }
        return new IllegalStateException(ex);
    }
}
