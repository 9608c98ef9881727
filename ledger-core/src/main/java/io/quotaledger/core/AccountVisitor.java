package io.quotaledger.core;

/**
 * Receives accounts from {@link Ledger#forEachAccount}, for exports and tools.
 */
@FunctionalInterface
public interface AccountVisitor
{
    void onAccount(long userId, long balance, long held, long creditLimit, boolean frozen);
}
