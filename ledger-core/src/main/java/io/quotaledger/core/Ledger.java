package io.quotaledger.core;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

import static io.quotaledger.core.ResultCode.AMOUNT_OVERFLOW;
import static io.quotaledger.core.ResultCode.CAPACITY_EXCEEDED;
import static io.quotaledger.core.ResultCode.FROZEN;
import static io.quotaledger.core.ResultCode.HOLD_ALREADY_CLOSED;
import static io.quotaledger.core.ResultCode.INSUFFICIENT_FUNDS;
import static io.quotaledger.core.ResultCode.INVALID_AMOUNT;
import static io.quotaledger.core.ResultCode.INVALID_ARGUMENT;
import static io.quotaledger.core.ResultCode.OK;
import static io.quotaledger.core.ResultCode.REQUEST_ID_CONFLICT;
import static io.quotaledger.core.ResultCode.UNKNOWN_ACCOUNT;
import static io.quotaledger.core.ResultCode.UNKNOWN_HOLD;

/**
 * The quota ledger state machine: accounts, free quotas, holds and the idempotency window, with the semantics of
 * {@code docs/semantics.md}. Pure and deterministic: no I/O, no clock, no threads; time is the command's timestamp.
 * Not thread-safe: one thread owns it (the runtime's business-logic thread).
 *
 * <p>Every command is decided, then its effect is expressed as an {@link Outcome}, applied to the state by the same
 * code that replay uses ({@link #apply}), and handed to the {@link OutcomeSink}. Live processing and replay therefore
 * cannot drift apart. The hot path allocates nothing.
 *
 * <p>Each outcome it produces is checked with Java {@code assert} (on in every test, off in production unless the
 * JVM runs with {@code -ea}): the account moved by exactly what the outcome says, held never goes below zero, free
 * units are used only within the allowance, outcome time never goes back.
 */
public final class Ledger
{
    /** "QLSN": the first four bytes of a snapshot. */
    public static final int SNAPSHOT_MAGIC = 0x4E534C51;
    /** Bumped whenever the snapshot layout changes; an unknown version is refused, never guessed at. */
    public static final int SNAPSHOT_VERSION = 1;
    private static final int SNAPSHOT_HEADER_LENGTH = 2 * Integer.BYTES;

    private final LedgerConfig config;
    private OutcomeSink sink;
    private final Accounts accounts;
    private final FreeQuotas quotas;
    private final Holds holds;
    private final DedupeWindow dedupe;
    private final Outcome outcome = new Outcome();
    private final Result replayResult = new Result();

    // Where a decision already found the account, quota and hold of the outcome it is about to apply, so the live
    // path skips lookups that are likely cache misses. Set just before a decision returns OK; consumed (and reset)
    // by the next applyState. Replay leaves them UNKNOWN and looks everything up.
    private static final int UNKNOWN = -2;
    private int knownAccount = UNKNOWN;
    private int knownQuota = UNKNOWN;
    private int knownHold = UNKNOWN;

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
     * Applies one command at {@code command.timestamp()} and writes the answer into {@code result}.
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
        if (op == Op.QUERY)
        {
            query(command, result);
            return;
        }
        if (op == Op.TICK)
        {
            expireDue(command.timestamp(), config.maxExpiriesPerTick());
            return;
        }

        final long fingerprint = command.fingerprint();
        final ResultCode invalid = validate(command);
        if (invalid != OK)
        {
            reject(command, fingerprint, invalid, result);
            return;
        }
        final int remembered = dedupe.find(command.requestIdHi(), command.requestIdLo(), command.timestamp());
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
            default: // SET_LIMIT, FREEZE, UNFREEZE
                code = setting(command, fingerprint);
                break;
        }
        if (code == OK)
        {
            assert capturedBefore(outcome);
            applyAndRemember(outcome, result);
            assert appliedAsDecided(outcome);
            emit(outcome);
        }
        else
        {
            reject(command, fingerprint, code, result);
        }
    }

    /**
     * Re-applies a journaled outcome: the state, and the dedupe window for accepted requests, end up exactly as they
     * were after the ledger produced it. Does not call the sink.
     */
    public void apply(final Outcome journaled)
    {
        if (journaled.type() != OutcomeType.REJECTED)
        {
            applyAndRemember(journaled, replayResult);
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
     * @return digest of the whole state: accounts, free quotas, open holds and the dedupe window.
     */
    public long checksum()
    {
        long h = Hashing.mix(accounts.checksum());
        h = Hashing.combine(h, quotas.checksum(accounts));
        h = Hashing.combine(h, holds.checksum());
        return Hashing.combine(h, dedupe.checksum());
    }

    /**
     * @return the exact number of bytes {@link #writeSnapshot} will write.
     * @throws IllegalStateException when the state is too large for one buffer (2 GiB).
     */
    public int snapshotLength()
    {
        final long length = (long)SNAPSHOT_HEADER_LENGTH + accounts.snapshotLength() + quotas.snapshotLength() +
            holds.snapshotLength() + dedupe.snapshotLength();
        if (length > Integer.MAX_VALUE - 64)
        {
            throw new IllegalStateException("state too large for one snapshot buffer: " + length + " bytes");
        }
        return (int)length;
    }

    /**
     * Writes the whole state (accounts, free quotas, open holds, the dedupe window) in a versioned little-endian
     * layout. Only copies memory: the caller decides where the bytes go, off the business-logic thread if it can.
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
        return p - offset;
    }

    /**
     * Loads a snapshot into this ledger, which must be new (nothing processed or applied yet). Afterwards its
     * {@link #checksum()} equals that of the ledger that wrote the snapshot (given the same dedupe window size).
     *
     * @throws IllegalArgumentException when the bytes are not a snapshot of a known version or their length is wrong.
     */
    public void loadSnapshot(final DirectBuffer buffer, final int offset, final int length)
    {
        if (accounts.count() != 0 || holds.size() != 0 || dedupe.size() != 0)
        {
            throw new IllegalStateException("a snapshot loads only into a new ledger");
        }
        if (length < SNAPSHOT_HEADER_LENGTH || buffer.getInt(offset, ByteOrder.LITTLE_ENDIAN) != SNAPSHOT_MAGIC)
        {
            throw new IllegalArgumentException("not a ledger snapshot");
        }
        final int version = buffer.getInt(offset + Integer.BYTES, ByteOrder.LITTLE_ENDIAN);
        if (version != SNAPSHOT_VERSION)
        {
            throw new IllegalArgumentException("snapshot version " + version + ", this ledger reads " +
                SNAPSHOT_VERSION);
        }
        try
        {
            int p = offset + SNAPSHOT_HEADER_LENGTH;
            p += accounts.readSnapshot(buffer, p);
            p += quotas.readSnapshot(buffer, p);
            p += holds.readSnapshot(buffer, p);
            p += dedupe.readSnapshot(buffer, p);
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
                return c.userId() <= 0 || c.serviceId() <= 0 ? INVALID_ARGUMENT : amount <= 0 ? INVALID_AMOUNT : OK;
            case RESERVE:
                return c.userId() <= 0 || c.serviceId() <= 0 || c.ttlMillis() <= 0 ||
                    c.ttlMillis() > config.maxHoldTtlMillis() ? INVALID_ARGUMENT :
                    amount <= 0 ? INVALID_AMOUNT : OK;
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
            default: // gateway policy operations: their rules are not in this build yet
                return INVALID_ARGUMENT;
        }
    }

    private static boolean isNil(final long hi, final long lo)
    {
        return hi == 0 && lo == 0;
    }

    private ResultCode charge(final Command c, final long fingerprint, final boolean reserve)
    {
        final long now = c.timestamp();
        if (reserve && holds.find(c.requestIdHi(), c.requestIdLo()) != Holds.MISSING)
        {
            return REQUEST_ID_CONFLICT; // an open hold whose RESERVE the window has forgotten
        }
        final int account = accounts.find(c.userId());
        if (account == Accounts.MISSING)
        {
            return UNKNOWN_ACCOUNT;
        }
        if (accounts.frozen(account))
        {
            return FROZEN;
        }
        final long amount = c.amount();
        final int quota = quotas.find(account, c.serviceId());
        final long fromFree = quota == FreeQuotas.MISSING ? 0 : Math.min(amount, quotas.remainingAt(quota, now));
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
            if (overflows(accounts.held(account), amount) || overflows(now, c.ttlMillis()))
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
            .serviceId(c.serviceId())
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
        return OK;
    }

    private ResultCode closeHold(final Command c, final long fingerprint)
    {
        final long now = c.timestamp();
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
            expire(hold, now, c.op());
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
            if (overflows(balance, -excessPaid))
            {
                return AMOUNT_OVERFLOW;
            }
            chargedFree = fromFree + excessFree;
            chargedBalance = fromBalance + excessPaid;
            balanceAfter = balance - excessPaid;
            freeUsedAfter += excessFree;
            flags = Result.FLAG_EXCEEDED_HOLD;
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

    private void expireDue(final long now, final int limit)
    {
        for (int i = 0; i < limit && hasDueHolds(now); i++)
        {
            expire(holds.earliest(), now, Op.TICK);
        }
    }

    private void expire(final int hold, final long now, final Op cause)
    {
        final long fromFree = holds.fromFree(hold);
        final long fromBalance = holds.fromBalance(hold);
        final int account = accounts.find(holds.userId(hold));
        final int quota = quotas.find(account, holds.serviceId(hold));
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
        assert appliedAsDecided(outcome);
        emit(outcome);
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
            if (overflows(balance, held) || overflows(balance + held, c.amount()))
            {
                return AMOUNT_OVERFLOW;
            }
        }
        outcome.reset(OutcomeType.CREDITED, Op.CREDIT, c.timestamp())
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
        final long now = c.timestamp();
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
        outcome.reset(type, c.op(), c.timestamp())
            .requestId(c.requestIdHi(), c.requestIdLo())
            .userId(c.userId())
            .amount(c.op() == Op.SET_LIMIT ? c.amount() : 0)
            .balanceAfter(accounts.balance(account))
            .fingerprint(fingerprint);
        know(account, FreeQuotas.MISSING, UNKNOWN);
        return OK;
    }

    private void query(final Command c, final Result result)
    {
        if (c.userId() <= 0 || c.serviceId() < 0)
        {
            result.code(INVALID_ARGUMENT);
            rejectionState(c, result);
            return;
        }
        final int account = accounts.find(c.userId());
        if (account == Accounts.MISSING)
        {
            result.code(UNKNOWN_ACCOUNT);
            return;
        }
        accountState(account, c.serviceId(), UNKNOWN, c.timestamp(), result);
    }

    private void reject(final Command c, final long fingerprint, final ResultCode code, final Result result)
    {
        result.code(code);
        rejectionState(c, result);
        outcome.reset(OutcomeType.REJECTED, c.op(), c.timestamp())
            .code(code)
            .requestId(c.requestIdHi(), c.requestIdLo())
            .holdId(c.holdIdHi(), c.holdIdLo())
            .userId(c.userId())
            .serviceId(c.serviceId())
            .amount(c.amount())
            .fingerprint(fingerprint);
        emit(outcome);
    }

    /**
     * A rejection reports the current state of the account it concerns, when that account exists, so that a gateway
     * refused for funds sees the balance that refused it. A SETTLE or RELEASE concerns the account of its hold while
     * the hold is open, or when the request itself found it due and expired it; otherwise nothing is reported.
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
        final int account = userId > 0 ? accounts.find(userId) : Accounts.MISSING;
        if (account != Accounts.MISSING)
        {
            accountState(account, Math.max(serviceId, 0), UNKNOWN, c.timestamp(), result);
        }
    }

    /**
     * The one place where outcomes change state, live and in replay; then the request's result is built from the
     * new state and remembered.
     */
    private void applyAndRemember(final Outcome o, final Result result)
    {
        final int quota = o.type() == OutcomeType.GRANTED ? UNKNOWN : knownQuota; // GRANTED may open it
        final int account = applyState(o);
        if (o.type() == OutcomeType.HOLD_EXPIRED)
        {
            return;
        }
        result.reset()
            .op(o.op())
            .flags(o.flags())
            .fromFree(o.fromFree())
            .fromBalance(o.fromBalance())
            .returned(o.returnedFree() + o.returnedBalance());
        accountState(account, o.serviceId(), quota, o.timestamp(), result);
        dedupe.record(o.requestIdHi(), o.requestIdLo(), o.timestamp(), o.fingerprint(), result);
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
                holds.open(o.holdIdHi(), o.holdIdLo(), o.userId(), o.serviceId(), o.fromFree(), o.fromBalance(),
                    o.expiresAt(), periodKey);
                break;
            }
            case HOLD_SETTLED:
            case HOLD_RELEASED:
            case HOLD_EXPIRED:
            {
                applyFreeUse(account, quota, o);
                final int hold = hintHold != UNKNOWN ? hintHold : holds.find(o.holdIdHi(), o.holdIdLo());
                accounts.held(account, accounts.held(account) - holds.amount(hold));
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
        return overflows(balance, creditLimit) ? Long.MAX_VALUE : sum;
    }

    private static boolean overflows(final long a, final long b)
    {
        final long sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0;
    }
}
