package io.quotaledger.core;

import org.agrona.collections.Long2LongHashMap;

import java.util.Arrays;

/**
 * Account records in flat arrays, found by user id through a primitive map. An account never moves or closes, so
 * its index is a stable handle for the life of the ledger.
 */
final class Accounts
{
    static final int MISSING = -1;

    private static final int STRIDE = 3;
    private static final int BALANCE = 0;
    private static final int HELD = 1;
    private static final int CREDIT_LIMIT = 2;

    private final Long2LongHashMap indexByUser;
    private long[] userIds;
    private long[] data;
    private boolean[] frozen;
    private int count;

    Accounts(final int expectedAccounts)
    {
        indexByUser = new Long2LongHashMap(expectedAccounts, 0.65f, MISSING);
        userIds = new long[expectedAccounts];
        data = new long[expectedAccounts * STRIDE];
        frozen = new boolean[expectedAccounts];
    }

    int count()
    {
        return count;
    }

    int find(final long userId)
    {
        return (int)indexByUser.get(userId);
    }

    int open(final long userId)
    {
        if (count == userIds.length)
        {
            final int capacity = count + (count >> 1) + 16;
            userIds = Arrays.copyOf(userIds, capacity);
            data = Arrays.copyOf(data, capacity * STRIDE);
            frozen = Arrays.copyOf(frozen, capacity);
        }
        final int account = count++;
        userIds[account] = userId;
        indexByUser.put(userId, account);
        return account;
    }

    long userId(final int account)
    {
        return userIds[account];
    }

    long balance(final int account)
    {
        return data[account * STRIDE + BALANCE];
    }

    void balance(final int account, final long balance)
    {
        data[account * STRIDE + BALANCE] = balance;
    }

    long held(final int account)
    {
        return data[account * STRIDE + HELD];
    }

    void held(final int account, final long held)
    {
        data[account * STRIDE + HELD] = held;
    }

    long creditLimit(final int account)
    {
        return data[account * STRIDE + CREDIT_LIMIT];
    }

    void creditLimit(final int account, final long creditLimit)
    {
        data[account * STRIDE + CREDIT_LIMIT] = creditLimit;
    }

    boolean frozen(final int account)
    {
        return frozen[account];
    }

    void frozen(final int account, final boolean value)
    {
        frozen[account] = value;
    }

    /**
     * Order-independent digest, so that it does not depend on the order accounts were opened in.
     */
    long checksum()
    {
        long sum = Hashing.mix(count);
        for (int a = 0; a < count; a++)
        {
            long h = Hashing.mix(userIds[a]);
            h = Hashing.combine(h, balance(a));
            h = Hashing.combine(h, held(a));
            h = Hashing.combine(h, creditLimit(a));
            sum += Hashing.combine(h, frozen[a] ? 1 : 0);
        }
        return sum;
    }
}
