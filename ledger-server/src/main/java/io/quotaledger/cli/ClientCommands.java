package io.quotaledger.cli;

import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerClientException;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.Period;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.UUID;
import java.util.function.Function;

/**
 * Client commands: one request to a running ledger each (`ledger credit`, `deduct`, ...). Exit code 0 when the
 * ledger accepted it, 1 when it rejected it (the result code is in the message), 2 when it could not be asked.
 * Give {@code --request-id} to retry a request safely: the ledger answers a repeated id with the original result.
 * The gateway policy settings (virtual keys, prices, groups, rate limits, spend windows, concurrency caps) are in
 * {@link PolicyCommands}.
 */
final class ClientCommands
{
    /**
     * Where the ledger is and how to authenticate.
     */
    static final class Connection
    {
        @Option(names = "--host", defaultValue = "127.0.0.1", description = "Ledger host (default: ${DEFAULT-VALUE}).")
        String host;

        @Option(names = "--port", defaultValue = "7070", converter = Tools.PortConverter.class,
            description = "Ledger port (default: ${DEFAULT-VALUE}).")
        int port;

        @Mixin
        KeyOptions keys;

        @Option(names = "--data", defaultValue = "data", paramLabel = "DIR",
            description = "Data directory whose admin.key to use when no other key is given (default: " +
                "${DEFAULT-VALUE}).")
        Path data;

        @Option(names = "--tls", description = "Connect with TLS.")
        boolean tls;

        @Option(names = "--timeout-ms", defaultValue = "2000", converter = Tools.MillisConverter.class,
            description = "Per attempt; three attempts with the same request id (default: ${DEFAULT-VALUE}).")
        long timeoutMillis;

        @Option(names = "--json", description = "Print the result as one JSON object.")
        boolean json;
    }

    static int call(
        final String name, final Connection connection, final Function<LedgerClient, LedgerResult> request)
    {
        return Tools.run(name, () ->
        {
            final ClientConfig config = new ClientConfig()
                .host(connection.host)
                .port(connection.port)
                .apiKey(connection.keys.apiKey(name, connection.data))
                .tls(connection.tls)
                .timeout(Duration.ofMillis(connection.timeoutMillis));
            final LedgerResult result;
            try (LedgerClient client = LedgerClient.connect(config))
            {
                result = request.apply(client);
            }
            catch (final LedgerClientException ex)
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, ex.getMessage());
            }
            System.out.println(connection.json ? json(result) : text(result));
            if (!result.ok())
            {
                System.err.println("ledger " + name + ": rejected: " + result.code());
                return Tools.EXIT_FAILURE;
            }
            return 0;
        });
    }

    static UUID id(final UUID given)
    {
        return given != null ? given : UUID.randomUUID();
    }

    @Command(name = "credit", mixinStandardHelpOptions = true, description = "Tops up a balance; opens the account.")
    static int credit(
        @Mixin final Connection connection,
        @Option(names = "--user", required = true) final long user,
        @Option(names = "--amount", required = true) final long amount,
        @Option(names = "--request-id", description = "Reuse to retry safely (default: a new UUID).") final UUID id)
    {
        return call("credit", connection, c -> c.blocking().credit(id(id), user, amount));
    }

    @Command(name = "deduct", mixinStandardHelpOptions = true,
        description = "Charges the free quota of the current period first, then the balance; all or nothing. Through " +
            "a virtual key, the charge also counts against the key's budget; with --units the ledger prices the " +
            "units with the user's price group.")
    static int deduct(
        @Mixin final Connection connection,
        @Option(names = "--user", required = true) final long user,
        @Option(names = "--service", required = true) final int service,
        @Option(names = "--amount", description = "What to charge (or give --units).") final Long amount,
        @Option(names = "--units", paramLabel = "N", description = "Raw units (e.g. tokens) to be priced instead of " +
            "an amount.") final Long units,
        @Option(names = "--virtual-key", paramLabel = "K", description = "The virtual key the charge goes through.")
        final long virtualKey,
        @Option(names = "--request-id", description = "Reuse to retry safely (default: a new UUID).") final UUID id)
    {
        return Tools.run("deduct", () ->
        {
            final long[] charge = amountOrUnits(amount, units);
            return call("deduct", connection,
                c -> c.blocking().deduct(id(id), user, service, charge[0], virtualKey, charge[1]));
        });
    }

    @Command(name = "reserve", mixinStandardHelpOptions = true,
        description = "Takes the funds now and holds them; the request id (printed) is the hold id. Through a " +
            "virtual key, the hold also counts against the key's budget and its cap on open holds.")
    static int reserve(
        @Mixin final Connection connection,
        @Option(names = "--user", required = true) final long user,
        @Option(names = "--service", required = true) final int service,
        @Option(names = "--amount", description = "What to hold (or give --units).") final Long amount,
        @Option(names = "--units", paramLabel = "N", description = "Raw units (e.g. tokens) to be priced instead of " +
            "an amount.") final Long units,
        @Option(names = "--virtual-key", paramLabel = "K", description = "The virtual key the hold goes through.")
        final long virtualKey,
        @Option(names = "--ttl", defaultValue = "5m", converter = Tools.DurationConverter.class,
            description = "How long the hold lasts: 30s, 5m, 1h or ISO-8601 (default: ${DEFAULT-VALUE}).")
        final Duration ttl,
        @Option(names = "--request-id", description = "The hold id; reuse to retry safely.") final UUID id)
    {
        return Tools.run("reserve", () ->
        {
            final long[] charge = amountOrUnits(amount, units);
            return call("reserve", connection,
                c -> c.blocking().reserve(id(id), user, service, charge[0], ttl, virtualKey, charge[1]));
        });
    }

    /**
     * @return {amount, units}: exactly one of them given.
     * @throws Tools.ToolException when both or neither are.
     */
    private static long[] amountOrUnits(final Long amount, final Long units) throws Tools.ToolException
    {
        if ((amount == null) == (units == null))
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "give --amount or --units (exactly one)");
        }
        return amount != null ? new long[]{ amount, 0 } : new long[]{ 0, units };
    }

    @Command(name = "settle", mixinStandardHelpOptions = true,
        description = "Charges the actual amount of a hold and returns the rest.")
    static int settle(
        @Mixin final Connection connection,
        @Option(names = "--hold", required = true, description = "The RESERVE's request id.") final UUID hold,
        @Option(names = "--amount", required = true, description = "The actual charge.") final long actual,
        @Option(names = "--request-id", description = "Reuse to retry safely (default: a new UUID).") final UUID id)
    {
        return call("settle", connection, c -> c.blocking().settle(id(id), hold, actual));
    }

    @Command(name = "release", mixinStandardHelpOptions = true, description = "Returns a whole hold.")
    static int release(
        @Mixin final Connection connection,
        @Option(names = "--hold", required = true, description = "The RESERVE's request id.") final UUID hold,
        @Option(names = "--request-id", description = "Reuse to retry safely (default: a new UUID).") final UUID id)
    {
        return call("release", connection, c -> c.blocking().release(id(id), hold));
    }

    @Command(name = "grant", mixinStandardHelpOptions = true,
        description = "Sets a free allowance per period (UTC) for a user and service; opens the account.")
    static int grant(
        @Mixin final Connection connection,
        @Option(names = "--user", required = true) final long user,
        @Option(names = "--service", required = true) final int service,
        @Option(names = "--allowance", required = true) final long allowance,
        @Option(names = "--period", required = true, description = "DAY, WEEK or MONTH.") final String period,
        @Option(names = "--request-id", description = "Reuse to retry safely (default: a new UUID).") final UUID id)
    {
        return Tools.run("grant", () ->
        {
            final Period parsed;
            try
            {
                parsed = Period.valueOf(period.toUpperCase(Locale.ROOT));
            }
            catch (final IllegalArgumentException ex)
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, "--period must be DAY, WEEK or MONTH, not " + period);
            }
            return call("grant", connection, c -> c.blocking().grant(id(id), user, service, allowance, parsed));
        });
    }

    @Command(name = "limit", mixinStandardHelpOptions = true,
        description = "Sets the credit limit: how far below zero charges may take the balance.")
    static int limit(
        @Mixin final Connection connection,
        @Option(names = "--user", required = true) final long user,
        @Option(names = "--amount", required = true, description = "The limit, 0 or more.") final long limit,
        @Option(names = "--request-id", description = "Reuse to retry safely (default: a new UUID).") final UUID id)
    {
        return call("limit", connection, c -> c.blocking().setLimit(id(id), user, limit));
    }

    @Command(name = "freeze", mixinStandardHelpOptions = true, description = "Freezes an account: charges are refused.")
    static int freeze(
        @Mixin final Connection connection,
        @Option(names = "--user", required = true) final long user,
        @Option(names = "--request-id", description = "Reuse to retry safely (default: a new UUID).") final UUID id)
    {
        return call("freeze", connection, c -> c.blocking().freeze(id(id), user));
    }

    @Command(name = "unfreeze", mixinStandardHelpOptions = true, description = "Unfreezes an account.")
    static int unfreeze(
        @Mixin final Connection connection,
        @Option(names = "--user", required = true) final long user,
        @Option(names = "--request-id", description = "Reuse to retry safely (default: a new UUID).") final UUID id)
    {
        return call("unfreeze", connection, c -> c.blocking().unfreeze(id(id), user));
    }

    @Command(name = "balance", mixinStandardHelpOptions = true,
        description = "Shows an account: balance, held, credit limit, frozen, free units left for a service; with " +
            "--virtual-key also the key: budget, spent and left in its current period, revoked or expired.")
    static int balance(
        @Mixin final Connection connection,
        @Option(names = "--user", required = true) final long user,
        @Option(names = "--service", defaultValue = "0", description = "Service for the free quota (default: none).")
        final int service,
        @Option(names = "--virtual-key", paramLabel = "K", description = "A virtual key of the user to show too.")
        final long virtualKey)
    {
        return call("balance", connection, c -> c.blocking().query(user, service, virtualKey));
    }

    static String text(final LedgerResult r)
    {
        final StringBuilder out = new StringBuilder(160).append(r.op()).append(' ').append(r.code());
        if (r.duplicate())
        {
            out.append(" (duplicate: the original result)");
        }
        if (r.requestId() != null)
        {
            out.append("\n  request      ").append(r.requestId());
        }
        if (r.fromFree() != 0 || r.fromBalance() != 0)
        {
            out.append("\n  charged      ").append(r.fromFree()).append(" free + ").append(r.fromBalance())
                .append(" from balance");
        }
        if (r.returned() != 0)
        {
            out.append("\n  returned     ").append(r.returned());
        }
        if (r.exceededHold())
        {
            out.append("\n  exceeded the hold: charged into debt");
        }
        if (r.units() != 0)
        {
            out.append("\n  units        ").append(r.units()).append(", priced ").append(r.amount());
        }
        if (r.retryAfterMillis() != 0)
        {
            out.append("\n  retry after  ").append(r.retryAfterMillis() < 0 ? "never (the request alone is over " +
                "the limit)" : r.retryAfterMillis() + " ms");
        }
        if (r.virtualKeyId() != 0)
        {
            out.append("\n  virtual key  ").append(r.virtualKeyId())
                .append(r.keyRevoked() ? " (revoked)" : "").append(r.keyExpired() ? " (expired)" : "");
            if (r.op() != Op.DEDUCT && r.op() != Op.RESERVE && r.op() != Op.SETTLE && r.op() != Op.RELEASE)
            {
                // QUERY and the settings naming a key carry its budget in amount
                out.append("\n  key budget   ").append(r.amount() < 0 ? "unlimited" : Long.toString(r.amount()));
            }
            out.append("\n  key spent    ").append(r.keySpent())
                .append("\n  key left     ")
                .append(r.keyBudgetRemaining() < 0 ? "unlimited" : Long.toString(r.keyBudgetRemaining()));
        }
        // a rejection carries the account's state too, when the account exists (docs/semantics.md "Results")
        if (r.ok() || r.balance() != 0 || r.held() != 0 || r.creditLimit() != 0 || r.freeRemaining() != 0 ||
            r.frozen())
        {
            out.append("\n  balance      ").append(r.balance())
                .append("\n  held         ").append(r.held())
                .append("\n  credit limit ").append(r.creditLimit())
                .append("\n  free left    ").append(r.freeRemaining())
                .append("\n  frozen       ").append(r.frozen());
        }
        return out.toString();
    }

    static String json(final LedgerResult r)
    {
        return "{\"op\":\"" + r.op() + "\",\"code\":\"" + r.code() + "\",\"ok\":" + r.ok() +
            ",\"duplicate\":" + r.duplicate() +
            ",\"requestId\":" + Tools.quote(r.requestId() == null ? null : r.requestId().toString()) +
            ",\"fromFree\":" + r.fromFree() + ",\"fromBalance\":" + r.fromBalance() + ",\"returned\":" + r.returned() +
            ",\"balance\":" + r.balance() + ",\"held\":" + r.held() + ",\"creditLimit\":" + r.creditLimit() +
            ",\"freeRemaining\":" + r.freeRemaining() + ",\"frozen\":" + r.frozen() +
            ",\"exceededHold\":" + r.exceededHold() + ",\"virtualKeyId\":" + r.virtualKeyId() +
            ",\"units\":" + r.units() + ",\"amount\":" + r.amount() +
            ",\"retryAfterMillis\":" + r.retryAfterMillis() + ",\"keySpent\":" + r.keySpent() +
            ",\"keyBudgetRemaining\":" + r.keyBudgetRemaining() + ",\"keyRevoked\":" + r.keyRevoked() +
            ",\"keyExpired\":" + r.keyExpired() + "}";
    }
}
