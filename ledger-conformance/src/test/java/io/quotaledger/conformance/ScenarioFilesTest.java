package io.quotaledger.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The suite's scenario files, read without a ledger: each is a scenario whose steps the runner understands, and no
 * two share a user, virtual key or group (they run one after the other on one ledger with the same id base).
 */
class ScenarioFilesTest
{
    @Test
    void shouldReadEveryScenarioOfTheSuite() throws Exception
    {
        final List<Path> files = Scenario.files(List.of(Harness.findRoot().resolve("conformance/scenarios")));
        assertTrue(files.size() >= 15, files.toString());
        final Map<String, String> owners = new HashMap<>();
        for (final Path file : files)
        {
            final Scenario scenario = Scenario.load(file);
            for (final ObjectNode step : scenario.steps())
            {
                if (step.has("op"))
                {
                    new Request(step, 1);
                    for (final String field : List.of("userId", "virtualKeyId", "groupId"))
                    {
                        final JsonNode id = step.path(field);
                        if (id.asLong() > 0)
                        {
                            final String owner = owners.putIfAbsent(field + " " + id.asLong(), scenario.name());
                            assertTrue(owner == null || owner.equals(scenario.name()),
                                field + " " + id + " is in " + owner + " and " + scenario.name());
                        }
                    }
                }
            }
        }
    }
}
