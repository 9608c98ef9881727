package io.quotaledger.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code ledger cluster}: operating a replicated ledger.
 */
@Command(
    name = "cluster",
    mixinStandardHelpOptions = true,
    description = "Operates a replicated ledger (docs/cluster.md).",
    subcommands = ClusterCommand.Status.class)
final class ClusterCommand
{
    /**
     * {@code ledger cluster status}: every member's view of itself, side by side, from their health endpoints.
     */
    @Command(
        name = "status",
        mixinStandardHelpOptions = true,
        description = {
            "Shows every member of a cluster: its role, the leader it knows, the commit position, the election",
            "state, the outcomes it applied and how far it lags the furthest member.",
            "Exit code 0 when every member answers, one leads and all are healthy; 1 otherwise; 2 when none answers." })
    static final class Status implements Callable<Integer>
    {
        @Option(names = "--members", required = true, paramLabel = "HOST:PORT,...",
            description = "Every member's metrics address (its serve --bind and --metrics-port).")
        String members;

        @Option(names = "--json", description = "Print one JSON object: the members' cluster documents and a verdict.")
        boolean json;

        /**
         * One member as its health endpoint describes it; body null when it did not answer.
         */
        private record Member(String address, String body, boolean healthy, String error)
        {
            long number(final String name)
            {
                try
                {
                    return Long.parseLong(StatusCommand.field(body, name));
                }
                catch (final NumberFormatException ex)
                {
                    return -1;
                }
            }

            String text(final String name)
            {
                return StatusCommand.field(body, name);
            }
        }

        public Integer call()
        {
            return Tools.run("cluster status", () ->
            {
                final List<Member> found = new ArrayList<>();
                for (final String address : members.split(","))
                {
                    found.add(ask(address.trim()));
                }
                long furthest = 0;
                int leaders = 0;
                int answering = 0;
                boolean healthy = true;
                for (final Member m : found)
                {
                    if (m.body() == null || !m.body().contains("\"cluster\""))
                    {
                        healthy = false;
                        continue;
                    }
                    answering++;
                    furthest = Math.max(furthest, m.number("appliedSequence"));
                    leaders += "leader".equals(m.text("role")) ? 1 : 0;
                    healthy &= m.healthy();
                }
                healthy &= leaders == 1;
                if (json)
                {
                    printJson(found, leaders == 1, healthy);
                }
                else
                {
                    printTable(found, furthest, leaders);
                }
                return answering == 0 ? Tools.EXIT_USAGE : healthy ? 0 : Tools.EXIT_FAILURE;
            });
        }

        private static Member ask(final String address) throws Tools.ToolException
        {
            final int colon = address.lastIndexOf(':');
            final int port;
            try
            {
                port = colon <= 0 ? -1 : Integer.parseInt(address.substring(colon + 1));
            }
            catch (final NumberFormatException ex)
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, "--members: '" + address + "' is not host:port");
            }
            if (port < 1 || port > 65_535)
            {
                throw new Tools.ToolException(Tools.EXIT_USAGE, "--members: '" + address + "' is not host:port");
            }
            try
            {
                final HttpResponse<String> response = StatusCommand.health(address.substring(0, colon), port);
                return new Member(address, response.body(), response.statusCode() == 200, null);
            }
            catch (final Exception ex)
            {
                return new Member(address, null, false, ex.getMessage());
            }
        }

        private static void printTable(final List<Member> found, final long furthest, final int leaders)
        {
            System.out.printf(Locale.ROOT, "%-6s %-22s %-9s %-6s %-14s %-10s %-12s %-8s %s%n", "member", "metrics",
                "role", "leader", "commit-pos", "election", "applied", "lag", "status");
            for (final Member m : found)
            {
                if (m.body() == null || !m.body().contains("\"cluster\""))
                {
                    System.out.printf(Locale.ROOT, "%-6s %-22s %s%n", "?", m.address(),
                        m.body() == null ? "not answering: " + m.error() : "not a cluster member");
                    continue;
                }
                final long applied = m.number("appliedSequence");
                System.out.printf(Locale.ROOT, "%-6d %-22s %-9s %-6d %-14d %-10s %-12d %-8d %s%n",
                    m.number("memberId"), m.address(), m.text("role"), m.number("leaderMemberId"),
                    m.number("commitPosition"), m.text("electionState"), applied, furthest - applied,
                    m.text("status") + ("ok".equals(m.text("status")) ? "" : ": " + m.text("failure")));
            }
            System.out.println(leaders == 1 ? "one leader" : leaders == 0 ? "NO LEADER: an election is running, " +
                "or too few members are up to form a majority" : "SEVERAL MEMBERS SAY THEY LEAD: their views differ " +
                "until the next heartbeat");
        }

        private static void printJson(final List<Member> found, final boolean oneLeader, final boolean healthy)
        {
            final StringBuilder out = new StringBuilder("{\"healthy\":").append(healthy)
                .append(",\"oneLeader\":").append(oneLeader).append(",\"members\":[");
            for (int i = 0; i < found.size(); i++)
            {
                final Member m = found.get(i);
                out.append(i == 0 ? "" : ",").append("{\"metrics\":").append(Tools.quote(m.address()));
                if (m.body() == null)
                {
                    out.append(",\"answering\":false,\"error\":").append(Tools.quote(m.error())).append('}');
                }
                else
                {
                    out.append(",\"answering\":true,\"health\":").append(m.body()).append('}');
                }
            }
            System.out.println(out.append("]}"));
        }
    }
}
