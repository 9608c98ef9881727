package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

import static io.quotaledger.core.ResultCode.AMOUNT_OVERFLOW;
import static io.quotaledger.core.ResultCode.CAPACITY_EXCEEDED;
import static io.quotaledger.core.ResultCode.CONCURRENCY_LIMITED;
import static io.quotaledger.core.ResultCode.FROZEN;
import static io.quotaledger.core.ResultCode.HOLD_ALREADY_CLOSED;
import static io.quotaledger.core.ResultCode.INSUFFICIENT_FUNDS;
import static io.quotaledger.core.ResultCode.INVALID_AMOUNT;
import static io.quotaledger.core.ResultCode.INVALID_ARGUMENT;
import static io.quotaledger.core.ResultCode.OK;
import static io.quotaledger.core.ResultCode.RATE_LIMITED;
import static io.quotaledger.core.ResultCode.REQUEST_ID_CONFLICT;
import static io.quotaledger.core.ResultCode.SERVICE_NOT_ALLOWED;
import static io.quotaledger.core.ResultCode.SPEND_WINDOW_EXCEEDED;
import static io.quotaledger.core.ResultCode.UNKNOWN_ACCOUNT;
import static io.quotaledger.core.ResultCode.UNKNOWN_HOLD;
import static io.quotaledger.core.ResultCode.UNKNOWN_VIRTUAL_KEY;
import static io.quotaledger.core.ResultCode.VIRTUAL_KEY_BUDGET_EXCEEDED;
import static io.quotaledger.core.ResultCode.VIRTUAL_KEY_EXPIRED;
import static io.quotaledger.core.ResultCode.VIRTUAL_KEY_REVOKED;

/**
 * The quota ledger state machine: accounts, free quotas, holds, the idempotency window and gateway policy (virtual
 * keys, prices, rate limits, concurrency caps, spend windows), with the semantics of {@code docs/semantics.md}. Pure
 * and deterministic: no I/O, no clock, no threads; time is the command's timestamp, never earlier than the last
 * outcome's. Not thread-safe: one thread owns it (the runtime's business-logic thread).
 *
 * <p>Every command is decided, then its effect is expressed as outcomes, applied to the state by the same code that
 * replay uses ({@link #apply}), and handed to the {@link OutcomeSink}. Live processing and replay therefore cannot
 * drift apart. The hot path allocates nothing. A charge that touches gateway policy is two outcomes: its usual one,
 * then POLICY_APPLIED with the key's spend and the rate limiters after it; a user without policy costs one test of
 * a word of its account record and emits what it always did.
 *
 * <p>Each outcome it produces is checked with Java {@code assert} (on in every test, off in production unless the
 * JVM runs with {@code -ea}): the account moved by exactly what the outcome says, held never goes below zero, free
 * units are used only within the allowance, outcome time never goes back, an admitted charge keeps its key within
 * budget, its windows within their maximum and its holds within their caps.
 */
public final class Ledger
{
    /** "QLSN": the first four bytes of a snapshot. */
    public static final int SNAPSHOT_MAGIC = 0x4E534C51;
    /**
     * Bumped whenever the snapshot layout changes; an unknown version is refused, never guessed at. Version 2 added
     * gateway policy; version 3 keeps the price group of a user without other limits in its account record (the
     * bytes are laid out as in version 2, but version 2 code would misread such an account). Versions 1 and 2 still
     * load: version 1 with no policy, version 2 as it was, every group in a limits record.
     */
    public static final int SNAPSHOT_VERSION = 3;
    private static final int SNAPSHOT_HEADER_LENGTH = 2 * Integer.BYTES;
    private static final int POLICY_HEADER_LENGTH = 2 * Long.BYTES;
    private static final long WAIT_OVERFLOW = Long.MIN_VALUE;

    private final LedgerConfig config;
    private OutcomeSink sink;
    private final Accounts accounts;
    private final FreeQuotas quotas;
    private final Holds holds;
    private final DedupeWindow dedupe;
    private final VirtualKeys keys;
    private final ServiceBudgets serviceBudgets;
    private final Prices prices;
    private final Limits limits;
    private final SpendWindows windows;
    private final Outcome outcome = new Outcome();
    private final Outcome policyOutcome = new Outcome();
    private final Result replayResult = new Result();
    private final Result scratchResult = new Result();
    private final int[] services = new int[Command.MAX_SERVICES];

    // The time of the latest outcome: a command stamped earlier is taken to happen at this time, so that periods,
    // windows and limiters never see time go back. Not in the checksum; rebuilt by replay, kept by snapshots.
    private long timeFloor = Long.MIN_VALUE;
    // Advanced whenever a key budget, a per-service budget or a spend window starts counting: a hold gives back
    // only to what counted it, which is what started counting at or before the hold's sequence number.
    private long policySequence;

    // The command's time (its timestamp, or the time floor if later), set when processing starts.
    private long now;

    // Where a decision already found the account, quota and hold of the outcome it is about to apply, so the live
    // path skips lookups that are likely cache misses. Set just before a decision returns OK; consumed (and reset)
    // by the next applyState. Replay leaves them UNKNOWN and looks everything up.
    private static final int UNKNOWN = -2;
    private int knownAccount = UNKNOWN;
    private int knownQuota = UNKNOWN;
    private int knownHold = UNKNOWN;
    // The same for the POLICY_APPLIED that follows: the key's location (VirtualKeys.locate) and its service budget;
    // consumed by applyPolicy.
    private static final long UNKNOWN_LOCATION = Long.MIN_VALUE;
    private long knownKeyLocation = UNKNOWN_LOCATION;
    private int knownServiceBudget = UNKNOWN;

    // Set by a decision that touches policy: policyOutcome is to follow the outcome it decided.
    private boolean policyPending;
    // What a rejected charge had found out when it was refused, for its result and REJECTED outcome.
    private long decidedAmount;
    private long retryAfterMillis;
    // The rate limiters' states a charge would leave: user requests, user units, key requests, key units.
    private long userRequestsTat;
    private long userUnitsTat;
    private long keyRequestsTat;
    private long keyUnitsTat;
    // What the last gcra call found: 0 admitted, > 0 ms to wait, -1 never, WAIT_OVERFLOW past 64 bits.
    private long lastWait;

    // Left by applyState for the POLICY_APPLIED that may follow at once (live and in replay): what was applied, the
    // hold just opened, and what the hold just closed had taken.
    private OutcomeType lastApplied;
    private int lastAppliedAccount;
    private int lastOpenedHold;
    private long closedAmount;
    private long closedOpenedAt;
    private long closedSequence;
    // True right after a request's result was remembered: its POLICY_APPLIED completes the remembered result.
    private boolean amendable;
    // The type the last POLICY_APPLIED followed, for the assertions on it.
    private OutcomeType policyFollowed;

    // The owner and service of a hold that a SETTLE or RELEASE found due and expired, for its rejection to report
    // (the hold is gone by then). Set by closeHold, consumed by the rejection that follows at once; 0 when none.
    private long expiredHoldUser;
    private int expiredHoldService;

    // Invariant checks, only while Java assertions are on (always in tests, off in production unless -ea): the
    // state an outcome is about to change, captured before it is applied and compared with what it became.
    private long balanceBefore;
    private long heldBefore;
    private long freeUsedBefore;
    private long holdFromBalanceBefore;
    private long holdAmountBefore;
    private long lastOutcomeTime = Long.MIN_VALUE;

    public Ledger(final LedgerConfig config, final OutcomeSink sink)
    {
        this.config = config.validate();
        this.sink = sink;
        this.accounts = new Accounts(Math.min(config.expectedAccounts(), config.maxAccounts()));
        this.quotas = new FreeQuotas(Math.min(config.expectedAccounts(), config.maxFreeQuotas()));
        this.holds = new Holds(Math.min(config.maxOpenHolds(), 1 << 16));
        this.dedupe = new DedupeWindow(config.dedupeWindowCount(), config.dedupeWindowMillis());
        final int expectedPolicy = Math.min(config.expectedAccounts(), 1 << 12);
        this.keys = new VirtualKeys(Math.min(expectedPolicy, config.maxVirtualKeys()));
        this.serviceBudgets = new ServiceBudgets(Math.min(expectedPolicy, config.maxServiceBudgets()));
        this.prices = new Prices(Math.min(expectedPolicy, config.maxPriceEntries()));
        this.limits = new Limits(expectedPolicy);
        this.windows = new SpendWindows(Math.min(expectedPolicy, config.maxSpendWindows()));
    }

    public LedgerConfig config()
    {
        return config;
    }

    /**
     * Sends outcomes to another sink from now on: a ledger rebuilt by recovery is handed to the runtime this way.
     */
    public void outcomeSink(final OutcomeSink sink)
    {
        this.sink = sink;
    }

    /**
     * Applies one command at {@code command.timestamp()} (or at the latest outcome's time, if that is later) and
     * writes the answer into {@code result}.
     *
     * @param command the request; not modified.
     * @param result  overwritten with the answer.
     */
    public void process(final Command command, final Result result)
    {
        final Op op = command.op();
        result.reset().op(op);
        if (op == null)
        {
            result.code(INVALID_ARGUMENT);
            return;
        }
        now = Math.max(command.timestamp(), timeFloor);
        decidedAmount = 0;
        retryAfterMillis = 0;
        policyPending = false;
        if (op == Op.QUERY)
        {
            query(command, result);
            return;
        }
        if (op == Op.TICK)
        {
            expireDue(config.maxExpiriesPerTick());
            return;
        }

        final long fingerprint = command.fingerprint();
        final ResultCode invalid = validate(command);
        if (invalid != OK)
        {
            reject(command, fingerprint, invalid, result);
            return;
        }
        final int remembered = dedupe.find(command.requestIdHi(), command.requestIdLo(), now);
        if (remembered != RequestIdIndex.MISSING)
        {
            if (dedupe.fingerprint(remembered) != fingerprint)
            {
                reject(command, fingerprint, REQUEST_ID_CONFLICT, result);
            }
            else
            {
                dedupe.readResult(remembered, result);
            }
            return;
        }

        final ResultCode code;
        switch (op)
        {
            case DEDUCT:
                code = charge(command, fingerprint, false);
                break;
            case RESERVE:
                code = charge(command, fingerprint, true);
                break;
            case SETTLE:
            case RELEASE:
                code = closeHold(command, fingerprint);
                break;
            case CREDIT:
                code = credit(command, fingerprint);
                break;
            case GRANT:
                code = grant(command, fingerprint);
                break;
            case SET_LIMIT:
            case FREEZE:
            case UNFREEZE:
                code = setting(command, fingerprint);
                break;
            default:
                code = policySetting(command, fingerprint);
                break;
        }
        if (code == OK)
        {
            assert capturedBefore(outcome);
            applyAndRemember(outcome, result);
            assert appliedAsDecided(outcome);
            emit(outcome);
            if (policyPending)
            {
                policyPending = false;
                applyPolicy(policyOutcome, result, true);
                assert policyAppliedAsDecided(policyOutcome);
                emit(policyOutcome);
            }
        }
        else
        {
            reject(command, fingerprint, code, result);
        }
    }

    /**
     * Re-applies a journaled outcome: the state, and the dedupe window for accepted requests, end up exactly as they
     * were after the ledger produced it. Does not call the sink. Outcomes must come in journal order: a
     * POLICY_APPLIED completes the outcome before it.
     */
    public void apply(final Outcome journaled)
    {
        timeFloor = Math.max(timeFloor, journaled.timestamp());
        switch (journaled.type())
        {
            case REJECTED:
                amendable = false;
                break;
            case POLICY_APPLIED:
                applyPolicy(journaled, replayResult, amendable);
                amendable = false;
                break;
            default:
                applyAndRemember(journaled, replayResult);
                break;
        }
    }

    /**
     * @return when the earliest open hold expires (epoch ms), or Long.MAX_VALUE when none is open.
     */
    public long nextExpiry()
    {
        final int first = holds.earliest();
        return first == Holds.MISSING ? Long.MAX_VALUE : holds.expiresAt(first);
    }

    /**
     * @return true when a hold is due at {@code now}: the runtime should send a TICK.
     */
    public boolean hasDueHolds(final long now)
    {
        final int first = holds.earliest();
        return first != Holds.MISSING && holds.expiresAt(first) <= now;
    }

    /**
     * @return digest of the whole state: accounts, free quotas, open holds, the dedupe window and gateway policy.
     */
    public long checksum()
    {
        long h = Hashing.mix(accounts.checksum());
        h = Hashing.combine(h, quotas.checksum(accounts));
        h = Hashing.combine(h, holds.checksum());
        h = Hashing.combine(h, dedupe.checksum());
        h = Hashing.combine(h, policySequence);
        h = Hashing.combine(h, keys.checksum());
        h = Hashing.combine(h, serviceBudgets.checksum());
        h = Hashing.combine(h, prices.checksum());
        h = Hashing.combine(h, limits.checksum());
        long windowSum = Hashing.mix(windows.count());
        for (int r = 0, n = limits.count(); r < n; r++)
        {
            for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
            {
                final int window = limits.window(r, slot);
                if (window != SpendWindows.MISSING)
                {
                    windowSum += Hashing.combine(Hashing.mix(limits.subject(r)), windows.checksum(window));
                }
            }
        }
        return Hashing.combine(h, windowSum);
    }

    /**
     * @return the exact number of bytes {@link #writeSnapshot} will write.
     * @throws IllegalStateException when the state is too large for one buffer (2 GiB).
     */
    public int snapshotLength()
    {
        final long length = (long)SNAPSHOT_HEADER_LENGTH + accounts.snapshotLength() + quotas.snapshotLength() +
            holds.snapshotLength() + dedupe.snapshotLength() + POLICY_HEADER_LENGTH + keys.snapshotLength() +
            serviceBudgets.snapshotLength() + prices.snapshotLength() + limits.snapshotLength() +
            windows.snapshotLength();
        if (length > Integer.MAX_VALUE - 64)
        {
            throw new IllegalStateException("state too large for one snapshot buffer: " + length + " bytes");
        }
        return (int)length;
    }

    /**
     * Writes the whole state (accounts, free quotas, open holds, the dedupe window, gateway policy) in a versioned
     * little-endian layout. Only copies memory: the caller decides where the bytes go, off the business-logic thread
     * if it can.
     *
     * @return bytes written, {@link #snapshotLength()}.
     */
    public int writeSnapshot(final MutableDirectBuffer buffer, final int offset)
    {
        int p = offset;
        buffer.putInt(p, SNAPSHOT_MAGIC, ByteOrder.LITTLE_ENDIAN);
        buffer.putInt(p + Integer.BYTES, SNAPSHOT_VERSION, ByteOrder.LITTLE_ENDIAN);
        p += SNAPSHOT_HEADER_LENGTH;
        p += accounts.writeSnapshot(buffer, p);
        p += quotas.writeSnapshot(buffer, p);
        p += holds.writeSnapshot(buffer, p);
        p += dedupe.writeSnapshot(buffer, p);
        buffer.putLong(p, timeFloor, ByteOrder.LITTLE_ENDIAN);
        buffer.putLong(p + Long.BYTES, policySequence, ByteOrder.LITTLE_ENDIAN);
        p += POLICY_HEADER_LENGTH;
        p += keys.writeSnapshot(buffer, p);
        p += serviceBudgets.writeSnapshot(buffer, p);
        p += prices.writeSnapshot(buffer, p);
        p += limits.writeSnapshot(buffer, p);
        p += windows.writeSnapshot(buffer, p);
        return p - offset;
    }

    /**
     * Loads a snapshot into this ledger, which must be new (nothing processed or applied yet). Afterwards its
     * {@link #checksum()} equals that of the ledger that wrote the snapshot (given the same dedupe window size).
     * Version 1 snapshots (before gateway policy) load with no policy, version 2 ones as they were.
     *
     * @throws IllegalArgumentException when the bytes are not a snapshot of a known version or their length is wrong.
     */
    public void loadSnapshot(final DirectBuffer buffer, final int offset, final int length)
    {
        if (accounts.count() != 0 || holds.size() != 0 || dedupe.size() != 0 || keys.count() != 0 ||
            prices.count() != 0)
        {
            throw new IllegalStateException("a snapshot loads only into a new ledger");
        }
        if (length < SNAPSHOT_HEADER_LENGTH || buffer.getInt(offset, ByteOrder.LITTLE_ENDIAN) != SNAPSHOT_MAGIC)
        {
            throw new IllegalArgumentException("not a ledger snapshot");
        }
        final int version = buffer.getInt(offset + Integer.BYTES, ByteOrder.LITTLE_ENDIAN);
        if (version < 1 || version > SNAPSHOT_VERSION)
        {
            throw new IllegalArgumentException("snapshot version " + version + ", this ledger reads 1 to " +
                SNAPSHOT_VERSION);
        }
        try
        {
            int p = offset + SNAPSHOT_HEADER_LENGTH;
            p += accounts.readSnapshot(buffer, p, version);
            p += quotas.readSnapshot(buffer, p);
            p += holds.readSnapshot(buffer, p, version);
            p += dedupe.readSnapshot(buffer, p, version);
            if (version == 1)
            {
                for (int i = 0, n = holds.size(); i < n; i++)
                {
                    final int account = accounts.find(holds.userId(holds.at(i)));
                    accounts.openHolds(account, accounts.openHolds(account) + 1);
                }
            }
            else
            {
                timeFloor = buffer.getLong(p, ByteOrder.LITTLE_ENDIAN);
                policySequence = buffer.getLong(p + Long.BYTES, ByteOrder.LITTLE_ENDIAN);
                p += POLICY_HEADER_LENGTH;
                p += keys.readSnapshot(buffer, p);
                p += serviceBudgets.readSnapshot(buffer, p);
                p += prices.readSnapshot(buffer, p);
                p += limits.readSnapshot(buffer, p);
                p += windows.readSnapshot(buffer, p);
            }
            if (p - offset != length)
            {
                throw new IllegalArgumentException("snapshot length " + length + " but content ends at " + (p - offset));
            }
        }
        catch (final IndexOutOfBoundsException ex)
        {
            throw new IllegalArgumentException("truncated snapshot", ex);
        }
    }

    /**
     * Calls the visitor for every account, in the order they were opened. For tools, not the hot path.
     */
    public void forEachAccount(final AccountVisitor visitor)
    {
        accounts.forEach(visitor);
    }

    public int accountCount()
    {
        return accounts.count();
    }

    public int openHoldCount()
    {
        return holds.size();
    }

    public int freeQuotaCount()
    {
        return quotas.count();
    }

    public int rememberedRequestCount()
    {
        return dedupe.size();
    }

    /**
     * @return virtual keys ever created, revoked ones included.
     */
    public int virtualKeyCount()
    {
        return keys.count();
    }

    /**
     * @return (key, service) pairs ever given a budget.
     */
    public int serviceBudgetCount()
    {
        return serviceBudgets.count();
    }

    public int priceCount()
    {
        return prices.count();
    }

    /**
     * @return users and keys with a rate limit.
     */
    public int rateLimitCount()
    {
        return limits.rateLimitCount();
    }

    public int spendWindowCount()
    {
        return windows.count();
    }

    /**
     * @return limits records of users and keys (a user whose only policy is a price group has none).
     */
    int limitsRecordCount()
    {
        return limits.count();
    }

    private ResultCode validate(final Command c)
    {
        if (c.requestIdHi() == 0 && c.requestIdLo() == 0)
        {
            return INVALID_ARGUMENT;
        }
        final long amount = c.amount();
        switch (c.op())
        {
            case DEDUCT:
                return c.userId() <= 0 || c.serviceId() <= 0 || c.virtualKeyId() < 0 ? INVALID_ARGUMENT :
                    chargeAmount(c);
            case RESERVE:
                return c.userId() <= 0 || c.serviceId() <= 0 || c.virtualKeyId() < 0 || c.ttlMillis() <= 0 ||
                    c.ttlMillis() > config.maxHoldTtlMillis() ? INVALID_ARGUMENT : chargeAmount(c);
            case SETTLE:
                return isNil(c.holdIdHi(), c.holdIdLo()) ? INVALID_ARGUMENT : amount < 0 ? INVALID_AMOUNT : OK;
            case RELEASE:
                return isNil(c.holdIdHi(), c.holdIdLo()) ? INVALID_ARGUMENT : OK;
            case CREDIT:
                return c.userId() <= 0 ? INVALID_ARGUMENT : amount <= 0 ? INVALID_AMOUNT : OK;
            case GRANT:
                return c.userId() <= 0 || c.serviceId() <= 0 || c.period() == null ? INVALID_ARGUMENT :
                    amount < 0 ? INVALID_AMOUNT : OK;
            case SET_LIMIT:
                return c.userId() <= 0 ? INVALID_ARGUMENT : amount < 0 ? INVALID_AMOUNT : OK;
            case FREEZE:
            case UNFREEZE:
                return c.userId() <= 0 ? INVALID_ARGUMENT : OK;
            case SET_VIRTUAL_KEY:
                return validateVirtualKey(c);
            case SET_VIRTUAL_KEY_SERVICE_BUDGET:
                return c.userId() <= 0 || c.virtualKeyId() <= 0 || c.serviceId() <= 0 ? INVALID_ARGUMENT :
                    amount < -1 ? INVALID_AMOUNT : OK;
            case REVOKE_VIRTUAL_KEY:
                return c.userId() <= 0 || c.virtualKeyId() <= 0 ? INVALID_ARGUMENT : OK;
            case SET_PRICE:
                return c.groupId() < 0 || c.serviceId() < 0 || c.multiplier() <= 0 ? INVALID_ARGUMENT : OK;
            case SET_GROUP:
                return c.userId() <= 0 || c.groupId() < 0 ? INVALID_ARGUMENT : OK;
            case SET_RATE_LIMIT:
            {
                final boolean removes = c.requests() == 0 && c.units() == 0;
                if (c.userId() <= 0 || c.virtualKeyId() < 0 || c.perMillis() < 0 ||
                    c.perMillis() > LedgerConfig.MAX_POLICY_DURATION_MILLIS || (!removes && c.perMillis() == 0))
                {
                    return INVALID_ARGUMENT;
                }
                return c.requests() < 0 || c.units() < 0 ? INVALID_AMOUNT : OK;
            }
            case SET_SPEND_WINDOW:
                return c.userId() <= 0 || c.virtualKeyId() < 0 || c.perMillis() <= 0 ||
                    c.perMillis() > LedgerConfig.MAX_POLICY_DURATION_MILLIS ? INVALID_ARGUMENT :
                    amount < 0 ? INVALID_AMOUNT : OK;
            case SET_CONCURRENCY:
                return c.userId() <= 0 || c.virtualKeyId() < 0 ? INVALID_ARGUMENT : amount < 0 ? INVALID_AMOUNT : OK;
            default:
                return INVALID_ARGUMENT;
        }
    }

    /**
     * A charge carries exactly one of a positive amount and positive units.
     */
    private static ResultCode chargeAmount(final Command c)
    {
        return (c.amount() > 0 && c.units() == 0) || (c.amount() == 0 && c.units() > 0) ? OK : INVALID_AMOUNT;
    }

    private static ResultCode validateVirtualKey(final Command c)
    {
        if (c.userId() <= 0 || c.virtualKeyId() <= 0 || (c.resetPeriod() != null && c.resetMillis() != 0) ||
            c.resetMillis() < 0 || c.resetMillis() > LedgerConfig.MAX_POLICY_DURATION_MILLIS || c.expiresAt() < 0 ||
            c.serviceCount() > Command.MAX_SERVICES)
        {
            return INVALID_ARGUMENT;
        }
        for (int i = 0, n = c.serviceCount(); i < n; i++)
        {
            if (c.service(i) <= 0)
            {
                return INVALID_ARGUMENT;
            }
        }
        return !c.unlimited() && c.amount() < 0 ? INVALID_AMOUNT : OK;
    }

    private static boolean isNil(final long hi, final long lo)
    {
        return hi == 0 && lo == 0;
    }

    private ResultCode charge(final Command c, final long fingerprint, final boolean reserve)
    {
        if (reserve && holds.find(c.requestIdHi(), c.requestIdLo()) != Holds.MISSING)
        {
            return REQUEST_ID_CONFLICT; // an open hold whose RESERVE the window has forgotten
        }
        final int account = accounts.find(c.userId());
        if (account == Accounts.MISSING)
        {
            return UNKNOWN_ACCOUNT;
        }
        // the lookups that do not depend on each other's records come first, so their cache misses overlap
        final int serviceId = c.serviceId();
        final long keyLocation = c.virtualKeyId() == 0 ? VirtualKeys.NOT_FOUND : keys.locate(c.virtualKeyId());
        final int key = VirtualKeys.keyOf(keyLocation);
        final int quota = quotas.find(account, serviceId);
        final long freeRemaining = quota == FreeQuotas.MISSING ? 0 : quotas.remainingAt(quota, now);
        if (accounts.frozen(account))
        {
            return FROZEN;
        }
        if (c.virtualKeyId() != 0)
        {
            final ResultCode keyCode = usableKey(key, c.userId(), serviceId);
            if (keyCode != OK)
            {
                return keyCode;
            }
        }
        final int userLimits = accounts.limits(account);
        long amount = c.amount();
        if (c.units() > 0)
        {
            // a user in a group without other limits keeps the group in the account: no limits record to wait for
            final int group = userLimits == Limits.MISSING ? accounts.group(account) : limits.group(userLimits);
            amount = PolicyMath.mulDivCeil(c.units(), prices.multiplier(group, serviceId), Command.MULTIPLIER_ONE);
            if (amount == PolicyMath.OVERFLOW)
            {
                return AMOUNT_OVERFLOW;
            }
        }
        decidedAmount = amount;

        final boolean touchesPolicy = key != VirtualKeys.MISSING || c.units() > 0 ||
            (userLimits != Limits.MISSING && (limits.hasRateLimit(userLimits) || limits.hasWindows(userLimits) ||
            (reserve && limits.cap(userLimits) > 0)));
        int serviceBudget = ServiceBudgets.MISSING;
        long keyPeriod = 0;
        long keySpentAfter = 0;
        long serviceSpentAfter = 0;
        if (touchesPolicy)
        {
            final int keyLimits = VirtualKeys.limitsOf(keyLocation);
            // the windows are read first, as soon as the amount is known (their records are likely cache misses),
            // but a rate limit or a cap refuses before them, with its own retry time
            final boolean windowsFit = windowsAdmit(userLimits, amount) & windowsAdmit(keyLimits, amount);
            final long windowsRetryAfter = retryAfterMillis;
            retryAfterMillis = 0;
            final ResultCode rateCode = admitRates(userLimits, keyLimits, c.units() > 0 ? c.units() : amount);
            if (rateCode != OK)
            {
                return rateCode;
            }
            if (reserve && (overCap(userLimits, accounts.openHolds(account)) ||
                (key != VirtualKeys.MISSING && overCap(keyLimits, keys.openHolds(key)))))
            {
                return CONCURRENCY_LIMITED;
            }
            if (!windowsFit)
            {
                retryAfterMillis = windowsRetryAfter;
                return SPEND_WINDOW_EXCEEDED;
            }
            if (key != VirtualKeys.MISSING)
            {
                keyPeriod = keys.currentPeriod(key, now);
                final long spent = keys.spentIn(key, keyPeriod);
                if (keys.unlimited(key))
                {
                    if (PolicyMath.overflows(spent, amount))
                    {
                        return AMOUNT_OVERFLOW;
                    }
                }
                else if (amount > keys.budget(key) - spent)
                {
                    return VIRTUAL_KEY_BUDGET_EXCEEDED;
                }
                keySpentAfter = spent + amount;
                serviceBudget = activeServiceBudget(key, serviceId);
                if (serviceBudget != ServiceBudgets.MISSING)
                {
                    final long serviceSpent = serviceBudgets.spentIn(serviceBudget, keyPeriod, keys.since(key));
                    if (amount > serviceBudgets.budget(serviceBudget) - serviceSpent)
                    {
                        return VIRTUAL_KEY_BUDGET_EXCEEDED;
                    }
                    serviceSpentAfter = serviceSpent + amount;
                }
            }
        }

        final long fromFree = Math.min(amount, freeRemaining);
        final long fromBalance = amount - fromFree;
        final long balance = accounts.balance(account);
        if (fromBalance > available(balance, accounts.creditLimit(account)))
        {
            return INSUFFICIENT_FUNDS;
        }
        long expiresAt = 0;
        if (reserve)
        {
            expiresAt = now + c.ttlMillis();
            if (PolicyMath.overflows(accounts.held(account), amount) || PolicyMath.overflows(now, c.ttlMillis()))
            {
                return AMOUNT_OVERFLOW;
            }
            if (holds.size() >= config.maxOpenHolds())
            {
                return CAPACITY_EXCEEDED;
            }
        }

        outcome.reset(reserve ? OutcomeType.HOLD_OPENED : OutcomeType.CHARGED, c.op(), now)
            .requestId(c.requestIdHi(), c.requestIdLo())
            .userId(c.userId())
            .serviceId(serviceId)
            .amount(amount)
            .fromFree(fromFree)
            .fromBalance(fromBalance)
            .balanceAfter(balance - fromBalance)
            .expiresAt(expiresAt)
            .fingerprint(fingerprint);
        if (reserve)
        {
            outcome.holdId(c.requestIdHi(), c.requestIdLo());
        }
        if (quota != FreeQuotas.MISSING)
        {
            final long periodKey = quotas.currentPeriodKey(quota, now);
            outcome.freeUsedAfter(quotas.usedAt(quota, now) + fromFree).periodId(FreeQuotas.periodId(periodKey));
        }
        know(account, quota, UNKNOWN);
        if (touchesPolicy)
        {
            policyOutcome.reset(OutcomeType.POLICY_APPLIED, c.op(), now)
                .requestId(c.requestIdHi(), c.requestIdLo())
                .userId(c.userId())
                .serviceId(serviceId)
                .virtualKeyId(c.virtualKeyId())
                .units(c.units())
                .amount(amount)
                .keySpentAfter(keySpentAfter)
                .keyServiceSpentAfter(serviceSpentAfter)
                .keyPeriodId(keyPeriod)
                .userRequestsTat(userRequestsTat)
                .userUnitsTat(userUnitsTat)
                .keyRequestsTat(keyRequestsTat)
                .keyUnitsTat(keyUnitsTat)
                .fingerprint(fingerprint);
            knownKeyLocation = keyLocation;
            knownServiceBudget = serviceBudget;
            policyPending = true;
        }
        return OK;
    }

    /**
     * @return OK when the key exists, is the user's, is neither revoked nor expired, and allows the service.
     */
    private ResultCode usableKey(final int key, final long userId, final int serviceId)
    {
        if (key == VirtualKeys.MISSING || keys.userId(key) != userId)
        {
            return UNKNOWN_VIRTUAL_KEY;
        }
        if (keys.revoked(key))
        {
            return VIRTUAL_KEY_REVOKED;
        }
        if (keys.expired(key, now))
        {
            return VIRTUAL_KEY_EXPIRED;
        }
        return keys.allows(key, serviceId) ? OK : SERVICE_NOT_ALLOWED;
    }

    /**
     * @return the key's budget for the service, when it has one.
     */
    private int activeServiceBudget(final int key, final int serviceId)
    {
        if (keys.serviceBudgetCount(key) == 0)
        {
            return ServiceBudgets.MISSING;
        }
        final int entry = serviceBudgets.find(key, serviceId);
        return entry != ServiceBudgets.MISSING && serviceBudgets.active(entry) ? entry : ServiceBudgets.MISSING;
    }

    private boolean overCap(final int limitsRecord, final int openHolds)
    {
        if (limitsRecord == Limits.MISSING)
        {
            return false;
        }
        final long cap = limits.cap(limitsRecord);
        return cap > 0 && openHolds >= cap;
    }

    /**
     * GCRA over the user's and the key's limiters (requests cost 1, units cost {@code units}): leaves the states
     * they would have after admitting the request in the *Tat fields. Every limiter is looked at, so that a refusal
     * reports when all of them would pass.
     */
    private ResultCode admitRates(final int userLimits, final int keyLimits, final long units)
    {
        userRequestsTat = userLimits == Limits.MISSING ? 0 : limits.tatRequests(userLimits);
        userUnitsTat = userLimits == Limits.MISSING ? 0 : limits.tatUnits(userLimits);
        keyRequestsTat = keyLimits == Limits.MISSING ? 0 : limits.tatRequests(keyLimits);
        keyUnitsTat = keyLimits == Limits.MISSING ? 0 : limits.tatUnits(keyLimits);
        final boolean userLimited = userLimits != Limits.MISSING && limits.hasRateLimit(userLimits);
        final boolean keyLimited = keyLimits != Limits.MISSING && limits.hasRateLimit(keyLimits);
        if (!userLimited && !keyLimited)
        {
            return OK;
        }
        if (now > Long.MAX_VALUE / 1000 || now < Long.MIN_VALUE / 1000)
        {
            return AMOUNT_OVERFLOW;
        }
        final long nowMicros = now * 1000;
        long wait = 0;
        if (userLimited)
        {
            final long perMicros = limits.ratePerMicros(userLimits);
            userRequestsTat = gcra(limits.rateRequests(userLimits), perMicros, userRequestsTat, 1, nowMicros);
            wait = worstWait(wait, lastWait);
            userUnitsTat = gcra(limits.rateUnits(userLimits), perMicros, userUnitsTat, units, nowMicros);
            wait = worstWait(wait, lastWait);
        }
        if (keyLimited)
        {
            final long perMicros = limits.ratePerMicros(keyLimits);
            keyRequestsTat = gcra(limits.rateRequests(keyLimits), perMicros, keyRequestsTat, 1, nowMicros);
            wait = worstWait(wait, lastWait);
            keyUnitsTat = gcra(limits.rateUnits(keyLimits), perMicros, keyUnitsTat, units, nowMicros);
            wait = worstWait(wait, lastWait);
        }
        if (wait == WAIT_OVERFLOW)
        {
            return AMOUNT_OVERFLOW;
        }
        if (wait != 0)
        {
            retryAfterMillis = wait;
            return RATE_LIMITED;
        }
        return OK;
    }

    /**
     * One GCRA limiter of {@code limit} per {@code perMicros}: admits iff {@code max(tat, now) + cost * T - now <= P}
     * with the increment {@code cost * P / limit} rounded up to the microsecond.
     *
     * @return the limiter's state after admitting, or {@code tat} when it is off or refuses (then see lastWait).
     */
    private long gcra(final long limit, final long perMicros, final long tat, final long cost, final long nowMicros)
    {
        lastWait = 0;
        if (limit == 0)
        {
            return tat;
        }
        if (cost > limit)
        {
            lastWait = -1;
            return tat;
        }
        assert tat - nowMicros <= perMicros : "limiter " + tat + " owes more than its period at " + nowMicros;
        final long increment = PolicyMath.mulDivCeil(cost, perMicros, limit); // at most perMicros: cost <= limit
        final long debt = Math.max(tat - nowMicros, 0) + increment;
        if (debt > perMicros)
        {
            lastWait = (debt - perMicros + 999) / 1000;
            return tat;
        }
        if (PolicyMath.overflows(nowMicros, debt))
        {
            lastWait = WAIT_OVERFLOW;
            return tat;
        }
        return nowMicros + debt;
    }

    private static long worstWait(final long a, final long b)
    {
        if (a == WAIT_OVERFLOW || b == WAIT_OVERFLOW)
        {
            return WAIT_OVERFLOW;
        }
        if (a == -1 || b == -1)
        {
            return -1;
        }
        return Math.max(a, b);
    }

    /**
     * @return true when every spend window of the subject leaves room for {@code amount}; else false with
     * retryAfterMillis the latest of the waits (-1 if one can never fit it), combined with what it held.
     */
    private boolean windowsAdmit(final int limitsRecord, final long amount)
    {
        if (limitsRecord == Limits.MISSING || !limits.hasWindows(limitsRecord))
        {
            return true;
        }
        boolean admitted = true;
        for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
        {
            final int window = limits.window(limitsRecord, slot);
            if (window != SpendWindows.MISSING && amount > windows.max(window) - windows.sum(window, now))
            {
                final long wait = windows.retryAfter(window, now, amount);
                retryAfterMillis = retryAfterMillis == -1 || wait == -1 ? -1 : Math.max(retryAfterMillis, wait);
                admitted = false;
            }
        }
        return admitted;
    }

    private ResultCode closeHold(final Command c, final long fingerprint)
    {
        final int hold = holds.find(c.holdIdHi(), c.holdIdLo());
        if (hold == Holds.MISSING)
        {
            final int remembered = dedupe.find(c.holdIdHi(), c.holdIdLo(), now);
            return remembered != RequestIdIndex.MISSING && dedupe.op(remembered) == Op.RESERVE ?
                HOLD_ALREADY_CLOSED : UNKNOWN_HOLD;
        }
        if (holds.expiresAt(hold) <= now)
        {
            expiredHoldUser = holds.userId(hold);
            expiredHoldService = holds.serviceId(hold);
            expire(hold, c.op());
            return HOLD_ALREADY_CLOSED;
        }

        final long actual = c.op() == Op.SETTLE ? c.amount() : 0;
        final long fromFree = holds.fromFree(hold);
        final long fromBalance = holds.fromBalance(hold);
        final long held = fromFree + fromBalance;
        if (actual - held > Math.max(held, config.maxSettleExcess()))
        {
            return INVALID_AMOUNT; // beyond the settle cap: a bug or abuse, not an under-estimate
        }
        final int account = accounts.find(holds.userId(hold));
        final long balance = accounts.balance(account);
        final int quota = quotas.find(account, holds.serviceId(hold));

        final long chargedFree;
        final long chargedBalance;
        final long balanceAfter;
        long returnedFree = 0;
        long returnedBalance = 0;
        long freeUsedAfter = quota == FreeQuotas.MISSING ? 0 : quotas.usedAt(quota, now);
        int flags = 0;
        if (actual <= held)
        {
            chargedFree = Math.min(actual, fromFree);
            chargedBalance = actual - chargedFree;
            returnedBalance = fromBalance - chargedBalance;
            balanceAfter = balance + returnedBalance;
            if (quota != FreeQuotas.MISSING && quotas.currentPeriodKey(quota, now) == holds.periodKey(hold))
            {
                returnedFree = fromFree - chargedFree; // units of a rolled period are gone, not returned
                freeUsedAfter -= returnedFree;
            }
        }
        else
        {
            final long excess = actual - held;
            final long excessFree = quota == FreeQuotas.MISSING ? 0 : Math.min(excess, quotas.remainingAt(quota, now));
            final long excessPaid = excess - excessFree;
            if (PolicyMath.overflows(balance, -excessPaid))
            {
                return AMOUNT_OVERFLOW;
            }
            chargedFree = fromFree + excessFree;
            chargedBalance = fromBalance + excessPaid;
            balanceAfter = balance - excessPaid;
            freeUsedAfter += excessFree;
            flags = Result.FLAG_EXCEEDED_HOLD;
        }
        if (closeTouchesPolicy(hold, account, actual) &&
            !decideClosePolicy(hold, account, actual, c.op(), c.requestIdHi(), c.requestIdLo(), fingerprint))
        {
            return AMOUNT_OVERFLOW;
        }

        outcome.reset(c.op() == Op.SETTLE ? OutcomeType.HOLD_SETTLED : OutcomeType.HOLD_RELEASED, c.op(), now)
            .requestId(c.requestIdHi(), c.requestIdLo())
            .holdId(c.holdIdHi(), c.holdIdLo())
            .userId(holds.userId(hold))
            .serviceId(holds.serviceId(hold))
            .amount(actual)
            .fromFree(chargedFree)
            .fromBalance(chargedBalance)
            .returnedFree(returnedFree)
            .returnedBalance(returnedBalance)
            .balanceAfter(balanceAfter)
            .freeUsedAfter(freeUsedAfter)
            .flags(flags)
            .fingerprint(fingerprint);
        if (quota != FreeQuotas.MISSING)
        {
            outcome.periodId(FreeQuotas.periodId(quotas.currentPeriodKey(quota, now)));
        }
        know(account, quota, hold);
        return OK;
    }

    /**
     * A hold's close touches policy when its RESERVE did, or when it charges more than the hold and the user now has
     * spend windows (the excess is a charge of now).
     */
    private boolean closeTouchesPolicy(final int hold, final int account, final long actual)
    {
        if (holds.touchedPolicy(hold))
        {
            return true;
        }
        final int userLimits = accounts.limits(account);
        return actual > holds.amount(hold) && userLimits != Limits.MISSING && limits.hasWindows(userLimits);
    }

    /**
     * Decides the POLICY_APPLIED of a hold's close (settle, release or expiry) into policyOutcome: what goes back to
     * the key's period (only the period that counted the hold, if it is still the current one) or what the excess
     * adds to it. Reads the hold, so it runs before the close is applied.
     *
     * @return false when an excess would take a key's spend or a spend window past 64 bits.
     */
    private boolean decideClosePolicy(
        final int hold,
        final int account,
        final long actual,
        final Op op,
        final long requestIdHi,
        final long requestIdLo,
        final long fingerprint)
    {
        final long held = holds.amount(hold);
        final int serviceId = holds.serviceId(hold);
        final long keyId = holds.virtualKeyId(hold);
        final long keyLocation = keyId == 0 ? VirtualKeys.NOT_FOUND : keys.locate(keyId);
        final int key = VirtualKeys.keyOf(keyLocation);
        final int userLimits = accounts.limits(account);
        final int keyLimits = VirtualKeys.limitsOf(keyLocation);
        long keyPeriod = 0;
        long keySpent = 0;
        long serviceSpent = 0;
        int serviceBudget = ServiceBudgets.MISSING;
        if (key != VirtualKeys.MISSING)
        {
            keyPeriod = keys.currentPeriod(key, now);
            keySpent = keys.spentIn(key, keyPeriod);
            final boolean keyCounted = holds.keyPeriod(hold) == keyPeriod &&
                keys.since(key) <= holds.policySequence(hold);
            serviceBudget = activeServiceBudget(key, serviceId);
            final long keySince = keys.since(key);
            if (serviceBudget != ServiceBudgets.MISSING)
            {
                serviceSpent = serviceBudgets.spentIn(serviceBudget, keyPeriod, keySince);
            }
            if (actual <= held)
            {
                if (keyCounted)
                {
                    assert keySpent >= held - actual : "key spend " + keySpent + " below what its hold gives back";
                    keySpent -= held - actual;
                    if (serviceBudget != ServiceBudgets.MISSING &&
                        Math.max(serviceBudgets.since(serviceBudget), keySince) <= holds.policySequence(hold))
                    {
                        assert serviceSpent >= held - actual;
                        serviceSpent -= held - actual;
                    }
                }
            }
            else
            {
                final long excess = actual - held;
                if (PolicyMath.overflows(keySpent, excess) || PolicyMath.overflows(serviceSpent, excess))
                {
                    return false;
                }
                keySpent += excess;
                if (serviceBudget != ServiceBudgets.MISSING)
                {
                    serviceSpent += excess;
                }
            }
        }
        if (actual > held && (!windowsHoldExcess(userLimits, actual - held) ||
            !windowsHoldExcess(keyLimits, actual - held)))
        {
            return false;
        }
        policyOutcome.reset(OutcomeType.POLICY_APPLIED, op, now)
            .requestId(requestIdHi, requestIdLo)
            .userId(holds.userId(hold))
            .serviceId(serviceId)
            .virtualKeyId(keyId)
            .amount(actual)
            .keySpentAfter(keySpent)
            .keyServiceSpentAfter(serviceSpent)
            .keyPeriodId(keyPeriod)
            .userRequestsTat(userLimits == Limits.MISSING ? 0 : limits.tatRequests(userLimits))
            .userUnitsTat(userLimits == Limits.MISSING ? 0 : limits.tatUnits(userLimits))
            .keyRequestsTat(keyLimits == Limits.MISSING ? 0 : limits.tatRequests(keyLimits))
            .keyUnitsTat(keyLimits == Limits.MISSING ? 0 : limits.tatUnits(keyLimits))
            .fingerprint(fingerprint);
        knownKeyLocation = keyLocation;
        knownServiceBudget = serviceBudget;
        policyPending = true;
        return true;
    }

    /**
     * @return false when adding {@code excess} now would take a spend window of the subject past 64 bits.
     */
    private boolean windowsHoldExcess(final int limitsRecord, final long excess)
    {
        if (limitsRecord == Limits.MISSING)
        {
            return true;
        }
        for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
        {
            final int window = limits.window(limitsRecord, slot);
            if (window != SpendWindows.MISSING && PolicyMath.overflows(windows.sum(window, now), excess))
            {
                return false;
            }
        }
        return true;
    }

    private void expireDue(final int limit)
    {
        for (int i = 0; i < limit && hasDueHolds(now); i++)
        {
            expire(holds.earliest(), Op.TICK);
        }
    }

    private void expire(final int hold, final Op cause)
    {
        final long fromFree = holds.fromFree(hold);
        final long fromBalance = holds.fromBalance(hold);
        final int account = accounts.find(holds.userId(hold));
        final int quota = quotas.find(account, holds.serviceId(hold));
        if (holds.touchedPolicy(hold))
        {
            final boolean decided = decideClosePolicy(hold, account, 0, cause, holds.idHi(hold), holds.idLo(hold), 0);
            assert decided : "an expiry only gives back";
        }
        outcome.reset(OutcomeType.HOLD_EXPIRED, cause, now)
            .requestId(holds.idHi(hold), holds.idLo(hold))
            .holdId(holds.idHi(hold), holds.idLo(hold))
            .userId(holds.userId(hold))
            .serviceId(holds.serviceId(hold))
            .returnedBalance(fromBalance)
            .balanceAfter(accounts.balance(account) + fromBalance);
        if (quota != FreeQuotas.MISSING)
        {
            final long periodKey = quotas.currentPeriodKey(quota, now);
            final long returnedFree = periodKey == holds.periodKey(hold) ? fromFree : 0;
            outcome.returnedFree(returnedFree)
                .freeUsedAfter(quotas.usedAt(quota, now) - returnedFree)
                .periodId(FreeQuotas.periodId(periodKey));
        }
        know(account, quota, hold);
        assert capturedBefore(outcome);
        applyState(outcome);
        amendable = false;
        assert appliedAsDecided(outcome);
        emit(outcome);
        if (policyPending)
        {
            policyPending = false;
            applyPolicy(policyOutcome, scratchResult, false);
            assert policyAppliedAsDecided(policyOutcome);
            emit(policyOutcome);
        }
    }

    private ResultCode credit(final Command c, final long fingerprint)
    {
        final int account = accounts.find(c.userId());
        long balance = 0;
        if (account == Accounts.MISSING)
        {
            if (accounts.count() >= config.maxAccounts())
            {
                return CAPACITY_EXCEEDED;
            }
        }
        else
        {
            balance = accounts.balance(account);
            // balance plus everything that may still come back from holds must stay within 64 bits
            final long held = accounts.held(account);
            if (PolicyMath.overflows(balance, held) || PolicyMath.overflows(balance + held, c.amount()))
            {
                return AMOUNT_OVERFLOW;
            }
        }
        outcome.reset(OutcomeType.CREDITED, Op.CREDIT, now)
            .requestId(c.requestIdHi(), c.requestIdLo())
            .userId(c.userId())
            .amount(c.amount())
            .balanceAfter(balance + c.amount())
            .fingerprint(fingerprint);
        know(account == Accounts.MISSING ? UNKNOWN : account, FreeQuotas.MISSING, UNKNOWN);
        return OK;
    }

    private ResultCode grant(final Command c, final long fingerprint)
    {
        final Period period = c.period();
        final int account = accounts.find(c.userId());
        long balance = 0;
        long usedAfter = 0;
        int quota = FreeQuotas.MISSING;
        if (account == Accounts.MISSING)
        {
            if (accounts.count() >= config.maxAccounts())
            {
                return CAPACITY_EXCEEDED;
            }
        }
        else
        {
            balance = accounts.balance(account);
            quota = quotas.find(account, c.serviceId());
            if (quota != FreeQuotas.MISSING && FreeQuotas.periodType(quotas.periodKey(quota)) == period)
            {
                usedAfter = quotas.usedAt(quota, now);
            }
        }
        if (quota == FreeQuotas.MISSING && quotas.count() >= config.maxFreeQuotas())
        {
            return CAPACITY_EXCEEDED;
        }
        outcome.reset(OutcomeType.GRANTED, Op.GRANT, now)
            .requestId(c.requestIdHi(), c.requestIdLo())
            .userId(c.userId())
            .serviceId(c.serviceId())
            .amount(c.amount())
            .balanceAfter(balance)
            .freeUsedAfter(usedAfter)
            .periodType(period)
            .periodId((int)period.periodId(now))
            .fingerprint(fingerprint);
        know(account == Accounts.MISSING ? UNKNOWN : account, UNKNOWN, UNKNOWN);
        return OK;
    }

    private ResultCode setting(final Command c, final long fingerprint)
    {
        final int account = accounts.find(c.userId());
        if (account == Accounts.MISSING)
        {
            return UNKNOWN_ACCOUNT;
        }
        final OutcomeType type = c.op() == Op.SET_LIMIT ? OutcomeType.LIMIT_SET :
            c.op() == Op.FREEZE ? OutcomeType.FROZEN : OutcomeType.UNFROZEN;
        outcome.reset(type, c.op(), now)
            .requestId(c.requestIdHi(), c.requestIdLo())
            .userId(c.userId())
            .amount(c.op() == Op.SET_LIMIT ? c.amount() : 0)
            .balanceAfter(accounts.balance(account))
            .fingerprint(fingerprint);
        know(account, FreeQuotas.MISSING, UNKNOWN);
        return OK;
    }

    /**
     * The gateway policy settings: decides and writes the outcome, or refuses.
     */
    private ResultCode policySetting(final Command c, final long fingerprint)
    {
        final Op op = c.op();
        if (op == Op.SET_PRICE)
        {
            if (!prices.contains(c.groupId(), c.serviceId()) && prices.count() >= config.maxPriceEntries())
            {
                return CAPACITY_EXCEEDED;
            }
            outcome.reset(OutcomeType.PRICE_SET, op, now)
                .requestId(c.requestIdHi(), c.requestIdLo())
                .serviceId(c.serviceId())
                .groupId(c.groupId())
                .multiplier(c.multiplier())
                .fingerprint(fingerprint);
            return OK;
        }
        final int account = accounts.find(c.userId());
        if (account == Accounts.MISSING)
        {
            return UNKNOWN_ACCOUNT;
        }
        outcome.reset(OutcomeType.GROUP_SET, op, now) // the type of the other settings is set below
            .requestId(c.requestIdHi(), c.requestIdLo())
            .userId(c.userId())
            .fingerprint(fingerprint);
        int key = VirtualKeys.MISSING;
        if (op != Op.SET_GROUP && c.virtualKeyId() != 0)
        {
            key = keys.find(c.virtualKeyId());
            if (op == Op.SET_VIRTUAL_KEY)
            {
                if (key != VirtualKeys.MISSING && keys.userId(key) != c.userId())
                {
                    return INVALID_ARGUMENT; // a key id belongs to the user that first set it
                }
            }
            else if (key == VirtualKeys.MISSING || keys.userId(key) != c.userId())
            {
                return UNKNOWN_VIRTUAL_KEY;
            }
            if (key != VirtualKeys.MISSING && keys.revoked(key) && op != Op.REVOKE_VIRTUAL_KEY)
            {
                return VIRTUAL_KEY_REVOKED;
            }
        }
        final int subjectLimits = key != VirtualKeys.MISSING ? keys.limits(key) : accounts.limits(account);
        switch (op)
        {
            case SET_VIRTUAL_KEY:
            {
                if (key == VirtualKeys.MISSING && keys.count() >= config.maxVirtualKeys())
                {
                    return CAPACITY_EXCEEDED;
                }
                final int n = c.serviceCount();
                for (int i = 0; i < n; i++)
                {
                    services[i] = c.service(i);
                }
                final int distinct = VirtualKeys.normalise(services, n);
                outcome.reset(OutcomeType.VIRTUAL_KEY_SET, op, now)
                    .requestId(c.requestIdHi(), c.requestIdLo())
                    .userId(c.userId())
                    .virtualKeyId(c.virtualKeyId())
                    .amount(c.unlimited() ? -1 : c.amount())
                    .flags(c.unlimited() ? Outcome.FLAG_UNLIMITED : 0)
                    .resetPeriod(c.resetPeriod())
                    .resetMillis(c.resetMillis())
                    .expiresAt(c.expiresAt())
                    .fingerprint(fingerprint);
                for (int i = 0; i < distinct; i++)
                {
                    outcome.addService(services[i]);
                }
                return OK;
            }
            case SET_VIRTUAL_KEY_SERVICE_BUDGET:
            {
                if (c.amount() >= 0 && serviceBudgets.find(key, c.serviceId()) == ServiceBudgets.MISSING &&
                    serviceBudgets.count() >= config.maxServiceBudgets())
                {
                    return CAPACITY_EXCEEDED;
                }
                outcome.reset(OutcomeType.VIRTUAL_KEY_SERVICE_BUDGET_SET, op, now)
                    .requestId(c.requestIdHi(), c.requestIdLo())
                    .userId(c.userId())
                    .virtualKeyId(c.virtualKeyId())
                    .serviceId(c.serviceId())
                    .amount(c.amount())
                    .fingerprint(fingerprint);
                return OK;
            }
            case REVOKE_VIRTUAL_KEY:
                outcome.reset(OutcomeType.VIRTUAL_KEY_REVOKED, op, now)
                    .requestId(c.requestIdHi(), c.requestIdLo())
                    .userId(c.userId())
                    .virtualKeyId(c.virtualKeyId())
                    .fingerprint(fingerprint);
                return OK;
            case SET_GROUP:
                outcome.groupId(c.groupId());
                return OK;
            case SET_RATE_LIMIT:
            {
                final boolean had = subjectLimits != Limits.MISSING && limits.hasRateLimit(subjectLimits);
                final boolean has = c.requests() != 0 || c.units() != 0;
                if (has && !had && limits.rateLimitCount() >= config.maxRateLimits())
                {
                    return CAPACITY_EXCEEDED;
                }
                outcome.reset(OutcomeType.RATE_LIMIT_SET, op, now)
                    .requestId(c.requestIdHi(), c.requestIdLo())
                    .userId(c.userId())
                    .virtualKeyId(c.virtualKeyId())
                    .requests(c.requests())
                    .units(c.units())
                    .perMillis(has ? c.perMillis() : 0)
                    .fingerprint(fingerprint);
                return OK;
            }
            case SET_SPEND_WINDOW:
            {
                if (c.amount() > 0 && findWindow(subjectLimits, c.perMillis()) == SpendWindows.MISSING &&
                    (windowCount(subjectLimits) == LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT ||
                    windows.count() >= config.maxSpendWindows()))
                {
                    return CAPACITY_EXCEEDED;
                }
                outcome.reset(OutcomeType.SPEND_WINDOW_SET, op, now)
                    .requestId(c.requestIdHi(), c.requestIdLo())
                    .userId(c.userId())
                    .virtualKeyId(c.virtualKeyId())
                    .amount(c.amount())
                    .perMillis(c.perMillis())
                    .fingerprint(fingerprint);
                return OK;
            }
            default: // SET_CONCURRENCY
                outcome.reset(OutcomeType.CONCURRENCY_SET, op, now)
                    .requestId(c.requestIdHi(), c.requestIdLo())
                    .userId(c.userId())
                    .virtualKeyId(c.virtualKeyId())
                    .amount(c.amount())
                    .fingerprint(fingerprint);
                return OK;
        }
    }

    /**
     * @return the subject's spend window of that length, or {@link SpendWindows#MISSING}.
     */
    private int findWindow(final int limitsRecord, final long length)
    {
        if (limitsRecord != Limits.MISSING)
        {
            for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
            {
                final int window = limits.window(limitsRecord, slot);
                if (window != SpendWindows.MISSING && windows.length(window) == length)
                {
                    return window;
                }
            }
        }
        return SpendWindows.MISSING;
    }

    private int windowCount(final int limitsRecord)
    {
        int count = 0;
        if (limitsRecord != Limits.MISSING)
        {
            for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
            {
                count += limits.window(limitsRecord, slot) != SpendWindows.MISSING ? 1 : 0;
            }
        }
        return count;
    }

    private void query(final Command c, final Result result)
    {
        if (c.userId() <= 0 || c.serviceId() < 0 || c.virtualKeyId() < 0)
        {
            result.code(INVALID_ARGUMENT).virtualKeyId(c.virtualKeyId());
            rejectionState(c, result);
            return;
        }
        final int account = accounts.find(c.userId());
        if (account == Accounts.MISSING)
        {
            result.code(UNKNOWN_ACCOUNT).virtualKeyId(c.virtualKeyId());
            return;
        }
        accountState(account, c.serviceId(), UNKNOWN, now, result);
        if (c.virtualKeyId() != 0)
        {
            final int key = keys.find(c.virtualKeyId());
            if (key == VirtualKeys.MISSING || keys.userId(key) != c.userId())
            {
                result.code(UNKNOWN_VIRTUAL_KEY).virtualKeyId(c.virtualKeyId());
                return;
            }
            keyState(key, c.serviceId(), now, result);
            result.amount(keys.budget(key));
        }
    }

    private void reject(final Command c, final long fingerprint, final ResultCode code, final Result result)
    {
        final boolean charge = c.op() == Op.DEDUCT || c.op() == Op.RESERVE;
        if (charge && c.units() == 0)
        {
            decidedAmount = c.amount();
        }
        result.code(code)
            .virtualKeyId(namedKey(c))
            .units(charge ? c.units() : 0)
            .amount(decidedAmount)
            .retryAfterMillis(retryAfterMillis);
        rejectionState(c, result);
        outcome.reset(OutcomeType.REJECTED, c.op(), now)
            .code(code)
            .requestId(c.requestIdHi(), c.requestIdLo())
            .holdId(c.holdIdHi(), c.holdIdLo())
            .userId(c.userId())
            .serviceId(c.serviceId())
            .amount(charge ? decidedAmount : c.amount())
            .virtualKeyId(namedKey(c))
            .units(charge ? c.units() : 0)
            .retryAfterMillis(retryAfterMillis)
            .fingerprint(fingerprint);
        emit(outcome);
    }

    /**
     * @return the virtual key the command names (the operations that take one), else 0.
     */
    private static long namedKey(final Command c)
    {
        switch (c.op())
        {
            case DEDUCT:
            case RESERVE:
            case QUERY:
            case SET_VIRTUAL_KEY:
            case SET_VIRTUAL_KEY_SERVICE_BUDGET:
            case REVOKE_VIRTUAL_KEY:
            case SET_RATE_LIMIT:
            case SET_SPEND_WINDOW:
            case SET_CONCURRENCY:
                return c.virtualKeyId();
            default:
                return 0;
        }
    }

    /**
     * A rejection reports the current state of the account it concerns, when that account exists, so that a gateway
     * refused for funds sees the balance that refused it; and of the virtual key it names, when that is the user's.
     * A SETTLE or RELEASE concerns the account of its hold while the hold is open, or when the request itself found
     * it due and expired it; otherwise nothing is reported.
     */
    private void rejectionState(final Command c, final Result result)
    {
        long userId = c.userId();
        int serviceId = c.serviceId();
        if (c.op() == Op.SETTLE || c.op() == Op.RELEASE)
        {
            final int hold = isNil(c.holdIdHi(), c.holdIdLo()) ? Holds.MISSING : holds.find(c.holdIdHi(), c.holdIdLo());
            if (hold != Holds.MISSING)
            {
                userId = holds.userId(hold);
                serviceId = holds.serviceId(hold);
            }
            else
            {
                userId = expiredHoldUser;
                serviceId = expiredHoldService;
            }
            expiredHoldUser = 0;
        }
        if (c.op() == Op.SET_PRICE)
        {
            return; // names no user
        }
        final int account = userId > 0 ? accounts.find(userId) : Accounts.MISSING;
        if (account != Accounts.MISSING)
        {
            accountState(account, Math.max(serviceId, 0), UNKNOWN, now, result);
            final long keyId = namedKey(c);
            final int key = keyId > 0 ? keys.find(keyId) : VirtualKeys.MISSING;
            if (key != VirtualKeys.MISSING && keys.userId(key) == userId)
            {
                keyState(key, Math.max(serviceId, 0), now, result);
            }
        }
    }

    /**
     * The one place where outcomes change state, live and in replay; then the request's result is built from the
     * new state and remembered.
     */
    private void applyAndRemember(final Outcome o, final Result result)
    {
        final OutcomeType type = o.type();
        if (type.code() > OutcomeType.POLICY_APPLIED.code())
        {
            applyPolicySetting(o);
            lastApplied = type;
            result.reset().op(o.op());
            policySettingState(o, result);
            dedupe.record(o.requestIdHi(), o.requestIdLo(), o.timestamp(), o.fingerprint(), result);
            amendable = false;
            return;
        }
        final int quota = type == OutcomeType.GRANTED ? UNKNOWN : knownQuota; // GRANTED may open it
        final int account = applyState(o);
        if (type == OutcomeType.HOLD_EXPIRED)
        {
            amendable = false;
            return;
        }
        result.reset()
            .op(o.op())
            .flags(o.flags())
            .fromFree(o.fromFree())
            .fromBalance(o.fromBalance())
            .returned(o.returnedFree() + o.returnedBalance());
        if (type == OutcomeType.CHARGED || type == OutcomeType.HOLD_OPENED || type == OutcomeType.HOLD_SETTLED)
        {
            result.amount(o.fromFree() + o.fromBalance());
        }
        accountState(account, o.serviceId(), quota, o.timestamp(), result);
        dedupe.record(o.requestIdHi(), o.requestIdLo(), o.timestamp(), o.fingerprint(), result);
        amendable = true;
    }

    private void know(final int account, final int quota, final int hold)
    {
        knownAccount = account;
        knownQuota = quota;
        knownHold = hold;
    }

    /**
     * @return the account the outcome belongs to.
     */
    private int applyState(final Outcome o)
    {
        int account = knownAccount != UNKNOWN ? knownAccount : accounts.find(o.userId());
        final int quota = knownQuota;
        final int hintHold = knownHold;
        know(UNKNOWN, UNKNOWN, UNKNOWN);
        if (account == Accounts.MISSING)
        {
            account = accounts.open(o.userId()); // CREDITED and GRANTED open accounts; others find them
        }
        lastApplied = o.type();
        lastAppliedAccount = account;
        accounts.balance(account, o.balanceAfter());
        switch (o.type())
        {
            case GRANTED:
            {
                quotas.grant(account, o.serviceId(), o.amount(), o.freeUsedAfter(), o.periodType(), o.periodId());
                break;
            }
            case CHARGED:
                applyFreeUse(account, quota, o);
                break;
            case HOLD_OPENED:
            {
                final long periodKey = applyFreeUse(account, quota, o);
                accounts.held(account, accounts.held(account) + o.fromFree() + o.fromBalance());
                accounts.openHolds(account, accounts.openHolds(account) + 1);
                lastOpenedHold = holds.open(o.holdIdHi(), o.holdIdLo(), o.userId(), o.serviceId(), o.fromFree(),
                    o.fromBalance(), o.expiresAt(), periodKey);
                break;
            }
            case HOLD_SETTLED:
            case HOLD_RELEASED:
            case HOLD_EXPIRED:
            {
                applyFreeUse(account, quota, o);
                final int hold = hintHold != UNKNOWN ? hintHold : holds.find(o.holdIdHi(), o.holdIdLo());
                closedAmount = holds.amount(hold);
                closedOpenedAt = holds.openedAt(hold);
                closedSequence = holds.policySequence(hold);
                accounts.held(account, accounts.held(account) - closedAmount);
                accounts.openHolds(account, accounts.openHolds(account) - 1);
                holds.close(hold);
                break;
            }
            case LIMIT_SET:
                accounts.creditLimit(account, o.amount());
                break;
            case FROZEN:
                accounts.frozen(account, true);
                break;
            case UNFROZEN:
                accounts.frozen(account, false);
                break;
            default: // CREDITED: the balance is all
                break;
        }
        return account;
    }

    /**
     * @return the period key the free units were used in, 0 for a service without a quota.
     */
    private long applyFreeUse(final int account, final int knownQuota, final Outcome o)
    {
        final int quota = knownQuota != UNKNOWN ? knownQuota : quotas.find(account, o.serviceId());
        if (quota == FreeQuotas.MISSING)
        {
            return 0;
        }
        return quotas.use(quota, o.freeUsedAfter(), o.periodId());
    }

    /**
     * Applies a POLICY_APPLIED to the state, live and in replay: the outcome it follows was applied just before. The
     * key's spend and the limiters take the outcome's absolute values; spend windows and open-hold counts follow from
     * the amounts (a charge adds to the current bucket, a close gives the unused part back to the bucket of its
     * opening or adds its excess now).
     */
    private void applyPolicy(final Outcome o, final Result result, final boolean amend)
    {
        final OutcomeType followed = lastApplied;
        lastApplied = OutcomeType.POLICY_APPLIED;
        policyFollowed = followed;
        final long at = o.timestamp();
        final int userLimits = accounts.limits(lastAppliedAccount);
        final long keyLocation = knownKeyLocation != UNKNOWN_LOCATION ? knownKeyLocation :
            o.virtualKeyId() == 0 ? VirtualKeys.NOT_FOUND : keys.locate(o.virtualKeyId());
        final int key = VirtualKeys.keyOf(keyLocation);
        final int keyLimits = VirtualKeys.limitsOf(keyLocation);
        final int serviceBudget = knownServiceBudget != UNKNOWN ? knownServiceBudget :
            key == VirtualKeys.MISSING ? ServiceBudgets.MISSING : activeServiceBudget(key, o.serviceId());
        knownKeyLocation = UNKNOWN_LOCATION;
        knownServiceBudget = UNKNOWN;
        if (userLimits != Limits.MISSING)
        {
            limits.tats(userLimits, o.userRequestsTat(), o.userUnitsTat());
        }
        if (keyLimits != Limits.MISSING)
        {
            limits.tats(keyLimits, o.keyRequestsTat(), o.keyUnitsTat());
        }
        if (key != VirtualKeys.MISSING)
        {
            keys.spend(key, o.keyPeriodId(), o.keySpentAfter());
            if (serviceBudget != ServiceBudgets.MISSING)
            {
                serviceBudgets.spend(serviceBudget, o.keyPeriodId(), o.keyServiceSpentAfter(), keys.since(key));
            }
        }
        switch (followed)
        {
            case CHARGED:
                addToWindows(userLimits, at, o.amount());
                addToWindows(keyLimits, at, o.amount());
                break;
            case HOLD_OPENED:
                addToWindows(userLimits, at, o.amount());
                addToWindows(keyLimits, at, o.amount());
                holds.policy(lastOpenedHold, o.virtualKeyId(), at, o.keyPeriodId(), policySequence);
                if (key != VirtualKeys.MISSING)
                {
                    keys.openHolds(key, keys.openHolds(key) + 1);
                }
                break;
            case HOLD_SETTLED:
            case HOLD_RELEASED:
            case HOLD_EXPIRED:
                if (o.amount() <= closedAmount)
                {
                    giveBackToWindows(userLimits, at, closedAmount - o.amount());
                    giveBackToWindows(keyLimits, at, closedAmount - o.amount());
                }
                else
                {
                    addToWindows(userLimits, at, o.amount() - closedAmount);
                    addToWindows(keyLimits, at, o.amount() - closedAmount);
                }
                if (key != VirtualKeys.MISSING)
                {
                    keys.openHolds(key, keys.openHolds(key) - 1);
                }
                break;
            default:
                throw new IllegalStateException("POLICY_APPLIED after " + followed + ": " + o);
        }
        result.virtualKeyId(o.virtualKeyId()).units(o.units());
        if (key != VirtualKeys.MISSING)
        {
            keyState(key, o.serviceId(), at, result);
        }
        if (amend)
        {
            dedupe.amendLast(result);
        }
    }

    private void addToWindows(final int limitsRecord, final long at, final long amount)
    {
        if (limitsRecord == Limits.MISSING || amount == 0 || !limits.hasWindows(limitsRecord))
        {
            return;
        }
        for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
        {
            final int window = limits.window(limitsRecord, slot);
            if (window != SpendWindows.MISSING)
            {
                windows.add(window, at, amount);
            }
        }
    }

    private void giveBackToWindows(final int limitsRecord, final long at, final long amount)
    {
        if (limitsRecord == Limits.MISSING || amount == 0)
        {
            return;
        }
        for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
        {
            final int window = limits.window(limitsRecord, slot);
            if (window != SpendWindows.MISSING && windows.since(window) <= closedSequence)
            {
                windows.giveBack(window, at, closedOpenedAt, amount);
            }
        }
    }

    /**
     * Applies a gateway policy setting (outcome types after POLICY_APPLIED), live and in replay.
     */
    private void applyPolicySetting(final Outcome o)
    {
        final long at = o.timestamp();
        switch (o.type())
        {
            case PRICE_SET:
                prices.put(o.groupId(), o.serviceId(), o.multiplier());
                break;
            case VIRTUAL_KEY_SET:
            {
                int key = keys.find(o.virtualKeyId());
                final boolean created = key == VirtualKeys.MISSING;
                if (created)
                {
                    key = keys.create(o.virtualKeyId(), o.userId());
                }
                final long resetCode = VirtualKeys.resetCode(o.resetPeriod(), o.resetMillis());
                final boolean restart = created || keys.resetCode(key) != resetCode;
                keys.configure(key, o.amount(), resetCode, o.expiresAt(), restart,
                    restart ? ++policySequence : keys.since(key), at);
                final int n = o.serviceCount();
                for (int i = 0; i < n; i++)
                {
                    services[i] = o.service(i);
                }
                keys.services(key, services, n);
                break;
            }
            case VIRTUAL_KEY_SERVICE_BUDGET_SET:
            {
                final int key = keys.find(o.virtualKeyId());
                int entry = serviceBudgets.find(key, o.serviceId());
                if (entry == ServiceBudgets.MISSING && o.amount() >= 0)
                {
                    entry = serviceBudgets.create(key, o.serviceId());
                    keys.serviceBudgetCount(key, keys.serviceBudgetCount(key) + 1);
                }
                if (entry != ServiceBudgets.MISSING)
                {
                    final boolean starts = !serviceBudgets.active(entry) && o.amount() >= 0;
                    serviceBudgets.budget(entry, o.amount(), starts ? ++policySequence : 0,
                        keys.currentPeriod(key, at));
                }
                break;
            }
            case VIRTUAL_KEY_REVOKED:
            {
                final int key = keys.find(o.virtualKeyId());
                keys.revoke(key);
                final int record = keys.limits(key);
                if (record != Limits.MISSING)
                {
                    // a revoked key never charges again: its limits would only hold capacity
                    limits.rateLimit(record, 0, 0, 0, 0);
                    limits.cap(record, 0);
                    for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
                    {
                        final int window = limits.window(record, slot);
                        if (window != SpendWindows.MISSING)
                        {
                            windows.free(window);
                            limits.window(record, slot, SpendWindows.MISSING);
                        }
                    }
                }
                break;
            }
            case GROUP_SET:
            {
                final int account = accounts.find(o.userId());
                final int record = accounts.limits(account);
                if (record != Limits.MISSING)
                {
                    limits.group(record, o.groupId());
                }
                else
                {
                    accounts.group(account, o.groupId());
                }
                break;
            }
            case RATE_LIMIT_SET:
            {
                final int record = subjectLimits(o, o.requests() != 0 || o.units() != 0);
                if (record != Limits.MISSING)
                {
                    limits.rateLimit(record, o.requests(), o.units(), o.perMillis() * 1000, micros(at));
                }
                break;
            }
            case SPEND_WINDOW_SET:
            {
                final int record = subjectLimits(o, o.amount() > 0);
                final int window = findWindow(record, o.perMillis());
                if (window != SpendWindows.MISSING)
                {
                    if (o.amount() > 0)
                    {
                        windows.max(window, o.amount());
                    }
                    else
                    {
                        windows.free(window);
                        limits.window(record, slotOf(record, window), SpendWindows.MISSING);
                    }
                }
                else if (o.amount() > 0)
                {
                    limits.window(record, slotOf(record, SpendWindows.MISSING),
                        windows.allocate(o.perMillis(), o.amount(), ++policySequence, at));
                }
                break;
            }
            case CONCURRENCY_SET:
            {
                final int record = subjectLimits(o, o.amount() > 0);
                if (record != Limits.MISSING)
                {
                    limits.cap(record, o.amount());
                }
                break;
            }
            default:
                throw new IllegalStateException("not a policy setting: " + o);
        }
    }

    private static long micros(final long millis)
    {
        return millis > Long.MAX_VALUE / 1000 ? Long.MAX_VALUE : millis < Long.MIN_VALUE / 1000 ? Long.MIN_VALUE :
            millis * 1000;
    }

    private int slotOf(final int limitsRecord, final int window)
    {
        for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
        {
            if (limits.window(limitsRecord, slot) == window)
            {
                return slot;
            }
        }
        throw new IllegalStateException("no window slot " + window + " in limits " + limitsRecord);
    }

    /**
     * @return the limits record of the outcome's subject (its key, or its user), created when asked to.
     */
    private int subjectLimits(final Outcome o, final boolean create)
    {
        if (o.virtualKeyId() != 0)
        {
            final int key = keys.find(o.virtualKeyId());
            int record = keys.limits(key);
            if (record == Limits.MISSING && create)
            {
                record = limits.create(Limits.keySubject(o.virtualKeyId()));
                keys.limits(key, record);
            }
            return record;
        }
        final int account = accounts.find(o.userId());
        int record = accounts.limits(account);
        if (record == Limits.MISSING && create)
        {
            record = limits.create(Limits.userSubject(o.userId()));
            limits.group(record, accounts.group(account)); // moves from the account record into its limits record
            accounts.limits(account, record);
        }
        return record;
    }

    /**
     * The result of an accepted setting: the account of its user, and the key it names with its budget.
     */
    private void policySettingState(final Outcome o, final Result result)
    {
        final int account = o.userId() > 0 ? accounts.find(o.userId()) : Accounts.MISSING;
        if (account == Accounts.MISSING)
        {
            return;
        }
        accountState(account, o.serviceId(), UNKNOWN, o.timestamp(), result);
        if (o.virtualKeyId() != 0)
        {
            final int key = keys.find(o.virtualKeyId());
            keyState(key, o.serviceId(), o.timestamp(), result);
            result.amount(keys.budget(key));
        }
    }

    /**
     * A key's spend and what it may still spend (for a service with its own budget, the lesser of the two), and
     * whether it is revoked or expired.
     */
    private void keyState(final int key, final int serviceId, final long at, final Result result)
    {
        final long period = keys.currentPeriod(key, at);
        long remaining = keys.remainingIn(key, period);
        if (serviceId > 0)
        {
            final int entry = activeServiceBudget(key, serviceId);
            if (entry != ServiceBudgets.MISSING)
            {
                final long serviceRemaining = Math.max(0, serviceBudgets.budget(entry) -
                    serviceBudgets.spentIn(entry, period, keys.since(key)));
                remaining = remaining < 0 ? serviceRemaining : Math.min(remaining, serviceRemaining);
            }
        }
        result.virtualKeyId(keys.keyId(key))
            .keySpent(keys.spentIn(key, period))
            .keyBudgetRemaining(remaining)
            .flags(result.flags() | (keys.revoked(key) ? Result.FLAG_KEY_REVOKED : 0) |
                (keys.expired(key, at) ? Result.FLAG_KEY_EXPIRED : 0));
    }

    private void accountState(
        final int account, final int serviceId, final int knownQuota, final long now, final Result result)
    {
        result
            .balance(accounts.balance(account))
            .held(accounts.held(account))
            .creditLimit(accounts.creditLimit(account))
            .frozen(accounts.frozen(account));
        if (serviceId != 0)
        {
            final int quota = knownQuota != UNKNOWN ? knownQuota : quotas.find(account, serviceId);
            result.freeRemaining(quota == FreeQuotas.MISSING ? 0 : quotas.remainingAt(quota, now));
        }
    }

    private void emit(final Outcome o)
    {
        assert timeMovesForward(o);
        timeFloor = Math.max(timeFloor, o.timestamp());
        sink.onOutcome(o);
    }

    private boolean timeMovesForward(final Outcome o)
    {
        if (o.timestamp() < lastOutcomeTime)
        {
            throw new AssertionError("outcome time went back from " + lastOutcomeTime + " to " + o);
        }
        lastOutcomeTime = o.timestamp();
        return true;
    }

    /**
     * Assertions only: an admitted charge left its key within budget (and its budget for the service), its windows
     * within their maximum and, for a hold, its user and key within their caps on open holds.
     */
    private boolean policyAppliedAsDecided(final Outcome o)
    {
        if (policyFollowed != OutcomeType.CHARGED && policyFollowed != OutcomeType.HOLD_OPENED)
        {
            return true;
        }
        final int account = accounts.find(o.userId());
        final int userLimits = accounts.limits(account);
        final int key = o.virtualKeyId() == 0 ? VirtualKeys.MISSING : keys.find(o.virtualKeyId());
        final int keyLimits = key == VirtualKeys.MISSING ? Limits.MISSING : keys.limits(key);
        if (key != VirtualKeys.MISSING && !keys.unlimited(key) && keys.spentAt(key, o.timestamp()) > keys.budget(key))
        {
            throw new AssertionError("key spend " + keys.spentAt(key, o.timestamp()) + " beyond its budget " +
                keys.budget(key) + ", by " + o);
        }
        final int entry = key == VirtualKeys.MISSING ? ServiceBudgets.MISSING : activeServiceBudget(key, o.serviceId());
        if (entry != ServiceBudgets.MISSING && serviceBudgets.spentIn(entry, keys.currentPeriod(key, o.timestamp()),
            keys.since(key)) > serviceBudgets.budget(entry))
        {
            throw new AssertionError("key spend on the service beyond its budget, by " + o);
        }
        windowsWithinMax(userLimits, o);
        windowsWithinMax(keyLimits, o);
        if (policyFollowed == OutcomeType.HOLD_OPENED &&
            ((userLimits != Limits.MISSING && limits.cap(userLimits) > 0 &&
            accounts.openHolds(account) > limits.cap(userLimits)) ||
            (keyLimits != Limits.MISSING && limits.cap(keyLimits) > 0 &&
            keys.openHolds(key) > limits.cap(keyLimits))))
        {
            throw new AssertionError("open holds beyond a cap, by " + o);
        }
        return true;
    }

    private void windowsWithinMax(final int limitsRecord, final Outcome o)
    {
        if (limitsRecord == Limits.MISSING)
        {
            return;
        }
        for (int slot = 0; slot < LedgerConfig.MAX_SPEND_WINDOWS_PER_SUBJECT; slot++)
        {
            final int window = limits.window(limitsRecord, slot);
            if (window != SpendWindows.MISSING && windows.sum(window, o.timestamp()) > windows.max(window))
            {
                throw new AssertionError("spend window " + windows.length(window) + " ms holds " +
                    windows.sum(window, o.timestamp()) + " beyond its maximum " + windows.max(window) + ", by " + o);
            }
        }
    }

    /**
     * Assertions only: remembers the state of what {@code o} is about to change (without touching the lookup hints).
     */
    private boolean capturedBefore(final Outcome o)
    {
        final int account = accounts.find(o.userId());
        balanceBefore = account == Accounts.MISSING ? 0 : accounts.balance(account);
        heldBefore = account == Accounts.MISSING ? 0 : accounts.held(account);
        final int quota = account == Accounts.MISSING || o.serviceId() == 0 ?
            FreeQuotas.MISSING : quotas.find(account, o.serviceId());
        freeUsedBefore = quota == FreeQuotas.MISSING ? 0 : quotas.usedAt(quota, o.timestamp());
        final int hold = closesHold(o.type()) ? holds.find(o.holdIdHi(), o.holdIdLo()) : Holds.MISSING;
        holdFromBalanceBefore = hold == Holds.MISSING ? 0 : holds.fromBalance(hold);
        holdAmountBefore = hold == Holds.MISSING ? 0 : holds.amount(hold);
        return true;
    }

    /**
     * Assertions only: the account moved by exactly what the outcome says (a credit adds its amount, a charge or a
     * hold takes what it drew from the balance, closing a hold gives back what the hold took from the balance less
     * what the close charges), held never goes below zero and moves by the hold's amount, and free units are used
     * only within the allowance.
     */
    private boolean appliedAsDecided(final Outcome o)
    {
        final OutcomeType type = o.type();
        if (type.code() >= OutcomeType.POLICY_APPLIED.code())
        {
            return true; // settings move no money
        }
        final int account = accounts.find(o.userId());
        final long balance;
        final long held;
        switch (type)
        {
            case CREDITED:
                balance = balanceBefore + o.amount();
                held = heldBefore;
                break;
            case CHARGED:
                balance = balanceBefore - o.fromBalance();
                held = heldBefore;
                break;
            case HOLD_OPENED:
                balance = balanceBefore - o.fromBalance();
                held = heldBefore + o.fromFree() + o.fromBalance();
                break;
            case HOLD_SETTLED:
            case HOLD_RELEASED:
            case HOLD_EXPIRED:
                balance = balanceBefore + holdFromBalanceBefore - o.fromBalance();
                held = heldBefore - holdAmountBefore;
                break;
            default: // GRANTED, LIMIT_SET, FROZEN, UNFROZEN leave the money alone
                balance = balanceBefore;
                held = heldBefore;
                break;
        }
        if (account == Accounts.MISSING || accounts.balance(account) != balance || accounts.held(account) != held ||
            held < 0 || o.fromFree() < 0 || o.fromBalance() < 0 || o.returnedFree() < 0 || o.returnedBalance() < 0)
        {
            throw new AssertionError("balance " + balanceBefore + " held " + heldBefore + " should become " +
                balance + " held " + held + ", became " + (account == Accounts.MISSING ? "no account" :
                accounts.balance(account) + " held " + accounts.held(account)) + ", by " + o);
        }
        final int quota = o.serviceId() == 0 ? FreeQuotas.MISSING : quotas.find(account, o.serviceId());
        if (type != OutcomeType.GRANTED && quota != FreeQuotas.MISSING)
        {
            final long used = quotas.usedAt(quota, o.timestamp());
            if (used > freeUsedBefore && used > quotas.allowance(quota))
            {
                throw new AssertionError("free units used " + used + " beyond the allowance " +
                    quotas.allowance(quota) + ", by " + o);
            }
        }
        return true;
    }

    private static boolean closesHold(final OutcomeType type)
    {
        return type == OutcomeType.HOLD_SETTLED || type == OutcomeType.HOLD_RELEASED ||
            type == OutcomeType.HOLD_EXPIRED;
    }

    /**
     * @return how far the balance may go down: to {@code -creditLimit}, saturated at Long.MAX_VALUE.
     */
    private static long available(final long balance, final long creditLimit)
    {
        final long sum = balance + creditLimit;
        return PolicyMath.overflows(balance, creditLimit) ? Long.MAX_VALUE : sum;
    }

}
