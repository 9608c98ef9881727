package io.quotaledger.cli;

import io.quotaledger.client.LedgerClient;
import io.quotaledger.protocol.Period;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.Locale;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * Gateway policy settings of a running ledger, one request each, for an admin key: {@code ledger virtual-key set |
 * budget | revoke}, {@code price set}, {@code group set}, {@code rate set}, {@code window set}, {@code concurrency
 * set}. Output, {@code --json} and exit codes as every client command ({@link ClientCommands}): 0 accepted, 1
 * rejected, 2 could not ask or a bad option.
 */
final class PolicyCommands
{
    private static final String REQUEST_ID = "Reuse to retry safely (default: a new UUID).";

    private PolicyCommands()
    {
    }

    /**
     * When a key's budget starts again: a calendar period (UTC) or a duration from the time it is set.
     */
    record Reset(Period period, long millis)
    {
    }

    /**
     * DAY, WEEK, MONTH or a duration ({@link Tools.DurationConverter}).
     */
    static final class ResetConverter implements CommandLine.ITypeConverter<Reset>
    {
        public Reset convert(final String value)
        {
            final String text = value.trim().toUpperCase(Locale.ROOT);
            for (final Period period : new Period[]{ Period.DAY, Period.WEEK, Period.MONTH })
            {
                if (period.name().equals(text))
                {
                    return new Reset(period, 0);
                }
            }
            try
            {
                return new Reset(Period.NONE, new Tools.DurationConverter().convert(value).toMillis());
            }
            catch (final CommandLine.TypeConversionException ex)
            {
                throw new CommandLine.TypeConversionException("'" + value + "' is neither DAY, WEEK, MONTH nor a " +
                    "duration such as 12h, 30d or PT5H");
            }
        }
    }

    /**
     * A price multiplier as a decimal (1, 1.5, 0.000001), exactly, to the ledger's fixed point with six decimals.
     */
    static final class MultiplierConverter implements CommandLine.ITypeConverter<Long>
    {
        private static final Pattern DECIMAL = Pattern.compile("\\d+(\\.\\d{1,6})?");

        public Long convert(final String value)
        {
            final String text = value.trim();
            if (!DECIMAL.matcher(text).matches())
            {
                throw new CommandLine.TypeConversionException("'" + value + "' is not a multiplier: a decimal with " +
                    "at most 6 decimals, such as 1.5 or 0.000125");
            }
            try
            {
                return new java.math.BigDecimal(text).movePointRight(6).longValueExact();
            }
            catch (final ArithmeticException ex)
            {
                throw new CommandLine.TypeConversionException("'" + value + "' is too large a multiplier");
            }
        }
    }

    @Command(name = "virtual-key", mixinStandardHelpOptions = true,
        description = "Virtual keys: the end users' API keys, sub-accounts of a user with a budget of their own.")
    static final class VirtualKey
    {
        @Command(name = "set", mixinStandardHelpOptions = true,
            description = "Creates or updates a virtual key of a user: its budget per period (or unlimited), when " +
                "the budget starts again, when the key expires, the services it may charge. An update keeps the " +
                "key's spend in the current period when the reset stays the same; a revoked key cannot be set.")
        int set(
            @Mixin final ClientCommands.Connection connection,
            @Option(names = "--user", required = true, paramLabel = "U") final long user,
            @Option(names = "--virtual-key", required = true, paramLabel = "K",
                description = "The key's id (> 0): it belongs to the user that first sets it.") final long key,
            @Option(names = "--budget", paramLabel = "N", description = "What the key may spend per period.")
            final Long budget,
            @Option(names = "--unlimited", description = "No budget (spend is still counted).") final boolean unlimited,
            @Option(names = "--reset", paramLabel = "DAY|WEEK|MONTH|DURATION", converter = ResetConverter.class,
                description = "When the budget starts again: a UTC calendar period, or a duration (12h, 30d) from " +
                    "now (default: never).") final Reset reset,
            @Option(names = "--expires", paramLabel = "T", converter = Tools.TimeConverter.class,
                description = "When the key stops charging: ISO-8601 (2026-12-31T00:00:00Z) or epoch ms " +
                    "(default: never).") final Long expires,
            @Option(names = "--services", split = ",", paramLabel = "S",
                description = "The services the key may charge, at most " + LedgerClient.MAX_SERVICES +
                    " (default: all).") final int[] services,
            @Option(names = "--request-id", paramLabel = "UUID", description = REQUEST_ID) final UUID id)
        {
            return Tools.run("virtual-key set", () ->
            {
                if ((budget == null) == !unlimited)
                {
                    throw new Tools.ToolException(Tools.EXIT_USAGE, "give --budget N or --unlimited (exactly one)");
                }
                if (services != null && services.length > LedgerClient.MAX_SERVICES)
                {
                    throw new Tools.ToolException(Tools.EXIT_USAGE, "--services names " + services.length +
                        " services: a key takes at most " + LedgerClient.MAX_SERVICES);
                }
                return ClientCommands.call("virtual-key set", connection, c -> c.blocking().setVirtualKey(
                    ClientCommands.id(id), user, key, budget == null ? 0 : budget, unlimited,
                    reset == null ? Period.NONE : reset.period(), reset == null ? 0 : reset.millis(),
                    expires == null ? 0 : expires, services));
            });
        }

        @Command(name = "budget", mixinStandardHelpOptions = true,
            description = "Sets a virtual key's budget for one service, per period of the key (-1 removes it).")
        int budget(
            @Mixin final ClientCommands.Connection connection,
            @Option(names = "--user", required = true, paramLabel = "U") final long user,
            @Option(names = "--virtual-key", required = true, paramLabel = "K") final long key,
            @Option(names = "--service", required = true) final int service,
            @Option(names = "--budget", required = true, paramLabel = "N",
                description = "What the key may spend on the service per period; -1 removes the budget.")
            final long budget,
            @Option(names = "--request-id", paramLabel = "UUID", description = REQUEST_ID) final UUID id)
        {
            return ClientCommands.call("virtual-key budget", connection,
                c -> c.blocking().setVirtualKeyServiceBudget(ClientCommands.id(id), user, key, service, budget));
        }

        @Command(name = "revoke", mixinStandardHelpOptions = true,
            description = "Revokes a virtual key for good: it charges nothing from then on.")
        int revoke(
            @Mixin final ClientCommands.Connection connection,
            @Option(names = "--user", required = true, paramLabel = "U") final long user,
            @Option(names = "--virtual-key", required = true, paramLabel = "K") final long key,
            @Option(names = "--request-id", paramLabel = "UUID", description = REQUEST_ID) final UUID id)
        {
            return ClientCommands.call("virtual-key revoke", connection,
                c -> c.blocking().revokeVirtualKey(ClientCommands.id(id), user, key));
        }
    }

    @Command(name = "price", mixinStandardHelpOptions = true, description = "Price groups' multipliers.")
    static final class Price
    {
        @Command(name = "set", mixinStandardHelpOptions = true,
            description = "Sets a price group's multiplier for a service: units charged with --units cost " +
                "ceil(units x multiplier). The next request pays the new price.")
        int set(
            @Mixin final ClientCommands.Connection connection,
            @Option(names = "--group", required = true, paramLabel = "G") final int group,
            @Option(names = "--service", required = true,
                description = "The service; 0 sets the group's default.") final int service,
            @Option(names = "--multiplier", required = true, paramLabel = "M", converter = MultiplierConverter.class,
                description = "A decimal with at most 6 decimals (1.5, 0.25).") final long multiplier,
            @Option(names = "--request-id", paramLabel = "UUID", description = REQUEST_ID) final UUID id)
        {
            return ClientCommands.call("price set", connection,
                c -> c.blocking().setPrice(ClientCommands.id(id), group, service, multiplier));
        }
    }

    @Command(name = "group", mixinStandardHelpOptions = true, description = "Users' price groups.")
    static final class Group
    {
        @Command(name = "set", mixinStandardHelpOptions = true, description = "Puts a user in a price group.")
        int set(
            @Mixin final ClientCommands.Connection connection,
            @Option(names = "--user", required = true, paramLabel = "U") final long user,
            @Option(names = "--group", required = true, paramLabel = "G",
                description = "The group; 0 is the default group.") final int group,
            @Option(names = "--request-id", paramLabel = "UUID", description = REQUEST_ID) final UUID id)
        {
            return ClientCommands.call("group set", connection,
                c -> c.blocking().setGroup(ClientCommands.id(id), user, group));
        }
    }

    @Command(name = "rate", mixinStandardHelpOptions = true, description = "Rate limits of users and keys.")
    static final class Rate
    {
        @Command(name = "set", mixinStandardHelpOptions = true,
            description = "Sets the rate limit of a user or one of its virtual keys: requests and units per period " +
                "(GCRA: a burst of the whole limit, then evenly spaced). Neither --requests nor --units removes it.")
        int set(
            @Mixin final ClientCommands.Connection connection,
            @Option(names = "--user", required = true, paramLabel = "U") final long user,
            @Option(names = "--virtual-key", paramLabel = "K", description = "A key of the user (default: the user).")
            final long key,
            @Option(names = "--requests", paramLabel = "N", description = "Requests per period.") final long requests,
            @Option(names = "--units", paramLabel = "N", description = "Units (or amounts) per period.")
            final long units,
            @Option(names = "--per", required = true, paramLabel = "DURATION",
                converter = Tools.DurationConverter.class, description = "The period: 1s, 1m, 1h...")
            final Duration per,
            @Option(names = "--request-id", paramLabel = "UUID", description = REQUEST_ID) final UUID id)
        {
            return ClientCommands.call("rate set", connection,
                c -> c.blocking().setRateLimit(ClientCommands.id(id), user, key, requests, units, per));
        }
    }

    @Command(name = "window", mixinStandardHelpOptions = true, description = "Rolling spend windows of users and keys.")
    static final class Window
    {
        @Command(name = "set", mixinStandardHelpOptions = true,
            description = "Sets a rolling spend window of a user or one of its virtual keys: at most --max charged " +
                "in any window of --per (up to 4 windows each; the length names the window; --max 0 removes it).")
        int set(
            @Mixin final ClientCommands.Connection connection,
            @Option(names = "--user", required = true, paramLabel = "U") final long user,
            @Option(names = "--virtual-key", paramLabel = "K", description = "A key of the user (default: the user).")
            final long key,
            @Option(names = "--max", required = true, paramLabel = "N") final long max,
            @Option(names = "--per", required = true, paramLabel = "DURATION",
                converter = Tools.DurationConverter.class, description = "The window's length: 5h, 7d...")
            final Duration per,
            @Option(names = "--request-id", paramLabel = "UUID", description = REQUEST_ID) final UUID id)
        {
            return ClientCommands.call("window set", connection,
                c -> c.blocking().setSpendWindow(ClientCommands.id(id), user, key, max, per));
        }
    }

    @Command(name = "concurrency", mixinStandardHelpOptions = true,
        description = "Caps on the open holds of users and keys.")
    static final class Concurrency
    {
        @Command(name = "set", mixinStandardHelpOptions = true,
            description = "Caps the open holds (reserves not yet settled or released) of a user or one of its " +
                "virtual keys; --max 0 removes the cap.")
        int set(
            @Mixin final ClientCommands.Connection connection,
            @Option(names = "--user", required = true, paramLabel = "U") final long user,
            @Option(names = "--virtual-key", paramLabel = "K", description = "A key of the user (default: the user).")
            final long key,
            @Option(names = "--max", required = true, paramLabel = "N") final long max,
            @Option(names = "--request-id", paramLabel = "UUID", description = REQUEST_ID) final UUID id)
        {
            return ClientCommands.call("concurrency set", connection,
                c -> c.blocking().setConcurrency(ClientCommands.id(id), user, key, max));
        }
    }
}
