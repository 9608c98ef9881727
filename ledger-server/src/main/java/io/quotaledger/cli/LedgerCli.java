package io.quotaledger.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code ledger} command line: one entry point, a subcommand per task.
 */
@Command(
    name = "ledger",
    mixinStandardHelpOptions = true,
    versionProvider = LedgerCli.Version.class,
    description = "In-memory quota ledger for API gateways.",
    subcommands = {
        ServeCommand.class,
        StatusCommand.class,
        ClusterCommand.class,
        ProjectCommand.class,
        DemoCommand.class,
        ReplayCommand.class,
        VerifyCommand.class,
        JournalCommand.class,
        SnapshotCommand.class,
        ArchiveCommand.class,
        KeysCommand.class,
        PolicyCommands.VirtualKey.class,
        PolicyCommands.Price.class,
        PolicyCommands.Group.class,
        PolicyCommands.Rate.class,
        PolicyCommands.Window.class,
        PolicyCommands.Concurrency.class,
        CommandLine.HelpCommand.class })
public final class LedgerCli
{
    public static void main(final String[] args)
    {
        System.exit(run(args));
    }

    /**
     * Runs the command line without exiting, for tests.
     *
     * @return the exit code: 0 on success, non-zero on any failure.
     */
    public static int run(final String... args)
    {
        return commandLine().execute(args);
    }

    static CommandLine commandLine()
    {
        final CommandLine cli = new CommandLine(new LedgerCli());
        // the client commands are static methods of one class: one subcommand each
        for (final java.lang.reflect.Method method : CommandLine.getCommandMethods(ClientCommands.class, null))
        {
            final CommandLine sub = new CommandLine(method);
            cli.addSubcommand(sub.getCommandName(), sub);
        }
        return cli;
    }

    static final class Version implements CommandLine.IVersionProvider
    {
        public String[] getVersion()
        {
            final String version = LedgerCli.class.getPackage().getImplementationVersion();
            return new String[] { "ledger " + (version == null ? "dev" : version) };
        }
    }
}
