package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.collections.Long2LongHashMap;

import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Account records in flat arrays, found by user id through a primitive map. An account never moves or closes, so
 * its index is a stable handle for the life of the ledger. A record is four longs (balance, held, credit limit with
 * the frozen flag in its sign bit, since a limit is never negative, and a policy word: in the high half the user's
 * limits record + 1, or for a user whose only policy is a price group that group with the sign bit set (group ids
 * are never negative), 0 for a user without gateway policy; the number of its open holds in the low half): a charge
 * reads one small record, a user without policy costs one test of a word it has already loaded, and a user in a price
 * group without other limits needs no limits record, so a priced charge does not wait for one.
 */
final class Accounts
{
    static final int MISSING = -1;

    private static final float LOAD_FACTOR = 0.65f;

    private static final int STRIDE = 4;
    private static final int V1_STRIDE = 3;
    private static final int BALANCE = 0;
    private static final int HELD = 1;
    private static final int LIMIT_AND_FROZEN = 2;
    private static final int POLICY = 3;
    private static final long OPEN_HOLDS_MASK = 0xFFFF_FFFFL;
    private static final long GROUP_TAG = Long.MIN_VALUE;
    private static final long FROZEN_BIT = Long.MIN_VALUE;

    private final Long2LongHashMap indexByUser;
    private long[] userIds;
    private long[] data;
    private int count;

    Accounts(final int expectedAccounts)
    {
        indexByUser = new Long2LongHashMap(Hashing.mapCapacity(expectedAccounts, LOAD_FACTOR), LOAD_FACTOR, MISSING);
        userIds = new long[expectedAccounts];
        data = new long[expectedAccounts * STRIDE];
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
        return data[account * STRIDE + LIMIT_AND_FROZEN] & ~FROZEN_BIT;
    }

    void creditLimit(final int account, final long creditLimit)
    {
        final int i = account * STRIDE + LIMIT_AND_FROZEN;
        data[i] = (data[i] & FROZEN_BIT) | creditLimit;
    }

    boolean frozen(final int account)
    {
        return data[account * STRIDE + LIMIT_AND_FROZEN] < 0;
    }

    void frozen(final int account, final boolean value)
    {
        final int i = account * STRIDE + LIMIT_AND_FROZEN;
        data[i] = value ? data[i] | FROZEN_BIT : data[i] & ~FROZEN_BIT;
    }

    /**
     * @return the user's limits record, {@link Limits#MISSING} when the user has none (no policy, or only a group).
     */
    int limits(final int account)
    {
        final long word = data[account * STRIDE + POLICY];
        return word < 0 ? Limits.MISSING : (int)(word >>> 32) - 1;
    }

    /**
     * Gives the user a limits record; its price group, if it had one here, is now the record's to keep.
     */
    void limits(final int account, final int limits)
    {
        assert limits >= 0;
        final int i = account * STRIDE + POLICY;
        data[i] = (data[i] & OPEN_HOLDS_MASK) | ((long)(limits + 1) << 32);
    }

    /**
     * @return the user's price group when it is kept here (the user has no limits record), else 0.
     */
    int group(final int account)
    {
        final long word = data[account * STRIDE + POLICY];
        return word < 0 ? (int)((word & ~GROUP_TAG) >>> 32) : 0;
    }

    /**
     * Keeps the price group of a user without a limits record (0: the default group, no policy).
     */
    void group(final int account, final int groupId)
    {
        assert groupId >= 0 && limits(account) == Limits.MISSING;
        final int i = account * STRIDE + POLICY;
        data[i] = (data[i] & OPEN_HOLDS_MASK) | (groupId == 0 ? 0 : GROUP_TAG | ((long)groupId << 32));
    }

    int openHolds(final int account)
    {
        return (int)(data[account * STRIDE + POLICY] & OPEN_HOLDS_MASK);
    }

    void openHolds(final int account, final int openHolds)
    {
        assert openHolds >= 0;
        final int i = account * STRIDE + POLICY;
        data[i] = (data[i] & ~OPEN_HOLDS_MASK) | openHolds;
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
            h = Hashing.combine(h, data[a * STRIDE + POLICY]);
            sum += Hashing.combine(h, frozen(a) ? 1 : 0);
        }
        return sum;
    }

    int snapshotLength()
    {
        return Integer.BYTES + count * (1 + STRIDE) * Long.BYTES;
    }

    /**
     * Writes the accounts in index order, so that a restore gives every account its old index (quota keys use it).
     */
    int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        int p = offset;
        buffer.putInt(p, count, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        for (int a = 0; a < count; a++)
        {
            buffer.putLong(p, userIds[a], ByteOrder.LITTLE_ENDIAN);
            for (int f = 0; f < STRIDE; f++)
            {
                buffer.putLong(p + (f + 1) * Long.BYTES, data[a * STRIDE + f], ByteOrder.LITTLE_ENDIAN);
            }
            p += (1 + STRIDE) * Long.BYTES;
        }
        return p - offset;
    }

    /**
     * @param version the snapshot version: version 1 records have no policy word (the open holds are counted when
     *                the holds are loaded).
     */
    int readSnapshot(final DirectBuffer buffer, final int offset, final int version)
    {
        int p = offset;
        final int n = buffer.getInt(p, ByteOrder.LITTLE_ENDIAN);
        p += Integer.BYTES;
        final int stride = version == 1 ? V1_STRIDE : STRIDE;
        for (int i = 0; i < n; i++)
        {
            final int a = open(buffer.getLong(p, ByteOrder.LITTLE_ENDIAN));
            for (int f = 0; f < stride; f++)
            {
                data[a * STRIDE + f] = buffer.getLong(p + (f + 1) * Long.BYTES, ByteOrder.LITTLE_ENDIAN);
            }
            p += (1 + stride) * Long.BYTES;
        }
        return p - offset;
    }

    /**
     * Calls the visitor for every account, in the order they were opened.
     */
    void forEach(final AccountVisitor visitor)
    {
        for (int a = 0; a < count; a++)
        {
            visitor.onAccount(userIds[a], balance(a), held(a), creditLimit(a), frozen(a));
        }
    }
}
