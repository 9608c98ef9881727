package io.quotaledger.projector;

import io.quotaledger.core.Outcome;
import io.quotaledger.core.OutcomeType;
import io.quotaledger.core.Period;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The outcomes of one projector transaction, aggregated in memory: usage deltas per (user, service, hour), the latest
 * state per account, quota use per period, the holds opened and closed, and the money movements. Closing a hold needs
 * what it held, which for a hold opened in an earlier batch only PostgreSQL knows: such closes wait in
 * {@link #pendingCloses()} until {@link #resolveCloses(Map)} hands them the holds.
 *
 * <p>Not thread-safe: the projector thread owns it.
 */
final class ProjectionBatch
{
    private static final long MILLIS_PER_HOUR = 3_600_000L;

    /** (user, service, hour): requests, free units, paid units, rejections. */
    record UsageKey(long userId, int serviceId, long hourMillis)
    {
    }

    static final class Usage
    {
        long requests;
        long freeUnits;
        long paidUnits;
        long rejections;
    }

    /**
     * What the batch did to one account: the last balance seen, the change of held funds, and the settings if set.
     */
    static final class AccountChange
    {
        long balance;
        long heldDelta;
        Long creditLimit;
        Boolean frozen;
        long updatedAt;
    }

    record QuotaKey(long userId, int serviceId)
    {
    }

    record Grant(Period type, long allowance, long at)
    {
    }

    /**
     * Free units used in one period. {@code type} is null when the batch has not seen the quota's GRANT: the type and
     * allowance are then those PostgreSQL holds from earlier batches.
     */
    record QuotaUseKey(long userId, int serviceId, Period type, int periodId)
    {
    }

    static final class QuotaUse
    {
        long used;
        long allowance;
        long at;
    }

    record Hold(UUID holdId, long userId, int serviceId, long fromFree, long fromBalance, long openedAt, long expiresAt)
    {
    }

    /**
     * A SETTLE, RELEASE or expiry, waiting to know what its hold held.
     */
    record Close(
        long sequence,
        OutcomeType type,
        long timestamp,
        UUID requestId,
        UUID holdId,
        long userId,
        int serviceId,
        long amount,
        long fromFree,
        long fromBalance,
        long returnedFree,
        long returnedBalance,
        long balanceAfter)
    {
    }

    record Movement(
        long sequence,
        long at,
        long userId,
        int serviceId,
        String kind,
        UUID requestId,
        UUID holdId,
        long amount,
        long balanceChange,
        long freeReturned,
        long balanceAfter)
    {
    }

    private final Map<UsageKey, Usage> usage = new HashMap<>();
    private final Map<Long, AccountChange> accounts = new HashMap<>();
    private final Map<QuotaKey, Grant> grants = new LinkedHashMap<>();
    private final Map<QuotaUseKey, QuotaUse> quotaUse = new LinkedHashMap<>();
    private final Map<UUID, Hold> opened = new LinkedHashMap<>();
    private final Map<UUID, Hold> openedAndClosed = new HashMap<>();
    private final List<Close> closes = new ArrayList<>();
    private final List<UUID> closedEarlier = new ArrayList<>();
    private final List<Movement> movements = new ArrayList<>();
    private long firstSequence;
    private long lastSequence;
    private long lastTimestamp;
    private final UnsafeBuffer lastOutcome = new UnsafeBuffer(new byte[Outcome.LENGTH]);
    private int outcomes;

    /**
     * @return the CRC32C of an outcome's encoded bytes: with its sequence and time, what tells the outcome a
     * checkpoint counted from another one that later took the same sequence in a journal that lost its end.
     */
    static long crc(final Outcome outcome)
    {
        final UnsafeBuffer encoded = new UnsafeBuffer(new byte[Outcome.LENGTH]);
        outcome.encode(encoded, 0);
        return crc(encoded);
    }

    private static long crc(final UnsafeBuffer encoded)
    {
        final CRC32C crc = new CRC32C();
        crc.update(encoded.byteArray(), 0, Outcome.LENGTH);
        return crc.getValue();
    }

    /**
     * Adds one outcome; outcomes must come in journal order.
     */
    void add(final long sequence, final Outcome o)
    {
        if (outcomes == 0)
        {
            firstSequence = sequence;
        }
        outcomes++;
        lastSequence = sequence;
        lastTimestamp = o.timestamp();
        o.encode(lastOutcome, 0); // the outcome object is reused: keep what lastCrc() needs
        final OutcomeType type = o.type();
        if (type == OutcomeType.REJECTED)
        {
            usage(o.userId(), o.serviceId(), o.timestamp()).rejections++;
            return;
        }

        final AccountChange account = account(o.userId());
        account.balance = o.balanceAfter();
        account.updatedAt = o.timestamp();
        switch (type)
        {
            case CREDITED -> movements.add(new Movement(sequence, o.timestamp(), o.userId(), 0, "CREDIT",
                requestId(o), null, o.amount(), o.amount(), 0, o.balanceAfter()));
            case CHARGED ->
            {
                final Usage u = usage(o.userId(), o.serviceId(), o.timestamp());
                u.requests++;
                u.freeUnits += o.fromFree();
                u.paidUnits += o.fromBalance();
                quotaUse(o);
            }
            case HOLD_OPENED ->
            {
                final Usage u = usage(o.userId(), o.serviceId(), o.timestamp());
                u.requests++;
                u.freeUnits += o.fromFree();
                u.paidUnits += o.fromBalance();
                account.heldDelta += o.fromFree() + o.fromBalance();
                final UUID holdId = new UUID(o.holdIdHi(), o.holdIdLo());
                opened.put(holdId, new Hold(holdId, o.userId(), o.serviceId(), o.fromFree(), o.fromBalance(),
                    o.timestamp(), o.expiresAt()));
                quotaUse(o);
            }
            case HOLD_SETTLED, HOLD_RELEASED, HOLD_EXPIRED ->
            {
                final UUID holdId = new UUID(o.holdIdHi(), o.holdIdLo());
                closes.add(new Close(sequence, type, o.timestamp(), requestId(o), holdId, o.userId(),
                    o.serviceId(), o.amount(), o.fromFree(), o.fromBalance(), o.returnedFree(), o.returnedBalance(),
                    o.balanceAfter()));
                final Hold openedHere = opened.remove(holdId);
                if (openedHere == null)
                {
                    closedEarlier.add(holdId);
                }
                else
                {
                    openedAndClosed.put(holdId, openedHere); // never reaches open_holds
                }
                quotaUse(o);
            }
            case GRANTED ->
            {
                grants.put(new QuotaKey(o.userId(), o.serviceId()),
                    new Grant(o.periodType(), o.amount(), o.timestamp()));
                quotaUse(o);
            }
            case LIMIT_SET ->
            {
                account.creditLimit = o.amount();
                movements.add(new Movement(sequence, o.timestamp(), o.userId(), 0, "LIMIT", requestId(o), null,
                    o.amount(), 0, 0, o.balanceAfter()));
            }
            case FROZEN -> account.frozen = Boolean.TRUE;
            case UNFROZEN -> account.frozen = Boolean.FALSE;
            default -> throw new IllegalStateException("outcome type " + type + " at sequence " + sequence);
        }
    }

    int outcomes()
    {
        return outcomes;
    }

    /**
     * @return the rows the batch will write: what its transaction costs, however many outcomes it folds.
     */
    int rows()
    {
        return usage.size() + accounts.size() + grants.size() + quotaUse.size() + opened.size() + closes.size() +
            movements.size();
    }

    boolean isEmpty()
    {
        return outcomes == 0;
    }

    long firstSequence()
    {
        return firstSequence;
    }

    long lastSequence()
    {
        return lastSequence;
    }

    long lastTimestamp()
    {
        return lastTimestamp;
    }

    /**
     * @return {@link #crc} of the last outcome added.
     */
    long lastCrc()
    {
        return crc(lastOutcome);
    }

    /**
     * @return the ids of holds closed in this batch but opened before it: PostgreSQL's open_holds has them.
     */
    List<UUID> pendingCloses()
    {
        return closedEarlier;
    }

    /**
     * Applies every close now that what each hold held is known; call it once, before writing the batch.
     *
     * @param earlier the holds of {@link #pendingCloses()}, by id.
     * @throws IllegalStateException when one is missing: the tables do not match the journal.
     */
    void resolveCloses(final Map<UUID, Hold> earlier)
    {
        for (final Close c : closes)
        {
            Hold hold = openedAndClosed.get(c.holdId());
            if (hold == null)
            {
                hold = earlier.get(c.holdId());
            }
            if (hold == null)
            {
                throw new IllegalStateException("hold " + c.holdId() + " closed at sequence " + c.sequence() +
                    " is not open in the projection: the tables do not match the journal (rebuild them)");
            }
            final long excessFree = Math.max(0, c.fromFree() - hold.fromFree());
            final long excessPaid = Math.max(0, c.fromBalance() - hold.fromBalance());
            final Usage u = usage(c.userId(), c.serviceId(), c.timestamp());
            u.freeUnits += excessFree - c.returnedFree();
            u.paidUnits += excessPaid - c.returnedBalance();
            account(c.userId()).heldDelta -= hold.fromFree() + hold.fromBalance();
            final long balanceChange = c.returnedBalance() - excessPaid;
            if (c.type() != OutcomeType.HOLD_SETTLED || balanceChange != 0 || c.returnedFree() != 0)
            {
                final String kind = switch (c.type())
                {
                    case HOLD_SETTLED -> "SETTLE";
                    case HOLD_RELEASED -> "RELEASE";
                    default -> "EXPIRY";
                };
                movements.add(new Movement(c.sequence(), c.timestamp(), c.userId(), c.serviceId(), kind,
                    c.requestId(), c.holdId(), c.amount(), balanceChange, c.returnedFree(), c.balanceAfter()));
            }
        }
        movements.sort((a, b) -> Long.compare(a.sequence(), b.sequence()));
    }

    Map<UsageKey, Usage> usage()
    {
        return usage;
    }

    Map<Long, AccountChange> accounts()
    {
        return accounts;
    }

    Map<QuotaKey, Grant> grants()
    {
        return grants;
    }

    Map<QuotaUseKey, QuotaUse> quotaUse()
    {
        return quotaUse;
    }

    /**
     * @return holds opened in this batch and still open at its end.
     */
    Iterable<Hold> opened()
    {
        return opened.values();
    }

    List<Movement> movements()
    {
        return movements;
    }

    static long hourOf(final long epochMillis)
    {
        return Math.floorDiv(epochMillis, MILLIS_PER_HOUR) * MILLIS_PER_HOUR;
    }

    private Usage usage(final long userId, final int serviceId, final long timestamp)
    {
        return usage.computeIfAbsent(new UsageKey(userId, serviceId, hourOf(timestamp)), k -> new Usage());
    }

    private AccountChange account(final long userId)
    {
        return accounts.computeIfAbsent(userId, k -> new AccountChange());
    }

    private void quotaUse(final Outcome o)
    {
        if (o.periodId() == 0)
        {
            return; // the service has no free quota
        }
        final Grant grant = grants.get(new QuotaKey(o.userId(), o.serviceId()));
        final QuotaUse use = quotaUse.computeIfAbsent(
            new QuotaUseKey(o.userId(), o.serviceId(), grant == null ? null : grant.type(), o.periodId()),
            k -> new QuotaUse());
        use.used = o.freeUsedAfter();
        use.allowance = grant == null ? 0 : grant.allowance();
        use.at = o.timestamp();
    }

    private static UUID requestId(final Outcome o)
    {
        return new UUID(o.requestIdHi(), o.requestIdLo());
    }
}
