package io.quotaledger.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ledger status}: asks a running ledger's health endpoint how it is: journal, connections, ring, and the
 * projector's lag behind the journal (events and seconds).
 */
@Command(
    name = "status",
    mixinStandardHelpOptions = true,
    description = {
        "Shows a running ledger's health: journal sequence, connections, ring fill, projector lag.",
        "Exit code 0 when healthy, 1 when the ledger reports a problem, 2 when it cannot be reached." })
final class StatusCommand implements Callable<Integer>
{
    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Ledger host (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--metrics-port", defaultValue = "9090", converter = Tools.PortConverter.class,
        description = "The ledger's metrics port (default: ${DEFAULT-VALUE}).")
    int metricsPort;

    @Option(names = "--json", description = "Print the health document as the ledger sends it.")
    boolean json;

    public Integer call()
    {
        return Tools.run("status", () ->
        {
            final HttpResponse<String> response = health(host, metricsPort);
            final String body = response.body();
            if (json)
            {
                System.out.println(body);
            }
            else
            {
                System.out.printf("status           %s%n", field(body, "status"));
                if (body.contains("\"failure\""))
                {
                    System.out.printf("  failure        %s%n", field(body, "failure"));
                }
                System.out.printf("journal sequence %s%n", field(body, "journalSequence"));
                System.out.printf("connections      %s%n", field(body, "connections"));
                System.out.printf("threading        %s%n", field(body, "threading"));
                System.out.printf("ring fill        %s%n", field(body, "ringFill"));
                if (body.contains("\"projector\""))
                {
                    System.out.printf("projector        checkpoint %s, lag %s events / %s s, %s failures%n",
                        field(body, "checkpoint"), field(body, "lagEvents"), field(body, "lagSeconds"),
                        field(body, "failures"));
                    final String error = field(body, "lastError");
                    if (!"null".equals(error))
                    {
                        System.out.printf("  last error     %s%n", error);
                    }
                }
                else
                {
                    System.out.println("projector        off");
                }
            }
            return response.statusCode() == 200 ? 0 : Tools.EXIT_FAILURE;
        });
    }

    /**
     * @return the answer of a ledger's {@code GET /health}.
     * @throws Tools.ToolException (usage) when nothing answers there.
     */
    static HttpResponse<String> health(final String host, final int metricsPort) throws Exception
    {
        try
        {
            return HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build().send(
                HttpRequest.newBuilder(URI.create("http://" + host + ":" + metricsPort + "/health"))
                    .timeout(Duration.ofSeconds(5)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        }
        catch (final java.io.IOException ex)
        {
            throw new Tools.ToolException(Tools.EXIT_USAGE, "no ledger answers on " + host + ":" + metricsPort +
                " (" + Tools.reason(ex) + ")");
        }
    }

    /**
     * @return a field's raw value from the flat health document (its strings hold no nested quotes).
     */
    static String field(final String json, final String name)
    {
        final Matcher m = Pattern.compile("\"" + name + "\":(\"(?:[^\"\\\\]|\\\\.)*\"|[^,}]*)").matcher(json);
        if (!m.find())
        {
            return "?";
        }
        final String value = m.group(1);
        return value.startsWith("\"") ? value.substring(1, value.length() - 1) : value;
    }
}
