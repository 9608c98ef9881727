package io.quotaledger.conformance;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * One scenario file of the conformance suite (conformance/README.md): its name, the key its connection uses and its
 * steps, as written.
 *
 * @param file      where it was read from.
 * @param name      its name, the file's name without {@code .json}.
 * @param connectAs {@code admin} or {@code gateway}.
 * @param steps     the steps, in order.
 */
public record Scenario(Path file, String name, String connectAs, List<ObjectNode> steps)
{
    private static final ObjectMapper JSON = new ObjectMapper()
        .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    /**
     * A file that is not a scenario.
     */
    public static final class Invalid extends Exception
    {
        private static final long serialVersionUID = 1L;

        Invalid(final String message)
        {
            super(message);
        }
    }

    /**
     * @return the name a scenario file goes by in the output: its file name without {@code .json}.
     */
    public static String nameOf(final Path file)
    {
        final String fileName = file.getFileName().toString();
        return fileName.endsWith(".json") ? fileName.substring(0, fileName.length() - ".json".length()) : fileName;
    }

    /**
     * Reads a scenario file.
     *
     * @throws Invalid when it is not JSON, or not a scenario: no steps, a name other than its file's, an unknown
     *                 top-level field or {@code connectAs}.
     */
    public static Scenario load(final Path file) throws Invalid
    {
        final JsonNode root;
        try
        {
            root = JSON.readTree(file.toFile());
        }
        catch (final IOException ex)
        {
            throw new Invalid("cannot read " + file + ": " + ex.getMessage().lines().findFirst().orElse(""));
        }
        if (!(root instanceof ObjectNode object))
        {
            throw new Invalid(file + ": not a JSON object");
        }
        for (final String field : (Iterable<String>)object::fieldNames)
        {
            if (!List.of("name", "description", "connectAs", "steps").contains(field))
            {
                throw new Invalid(file + ": unknown field '" + field + "'");
            }
        }
        final String name = object.path("name").asText("");
        if (!name.equals(nameOf(file)))
        {
            throw new Invalid(file + ": name '" + name + "' is not the file's name '" + nameOf(file) + "'");
        }
        final String connectAs = object.path("connectAs").asText("admin");
        if (!connectAs.equals("admin") && !connectAs.equals("gateway"))
        {
            throw new Invalid(file + ": connectAs must be admin or gateway, not '" + connectAs + "'");
        }
        final JsonNode steps = object.path("steps");
        if (!steps.isArray() || steps.isEmpty())
        {
            throw new Invalid(file + ": no steps");
        }
        final List<ObjectNode> list = new ArrayList<>();
        for (final JsonNode step : steps)
        {
            if (!(step instanceof ObjectNode stepObject))
            {
                throw new Invalid(file + ": step " + list.size() + " is not a JSON object");
            }
            list.add(stepObject);
        }
        return new Scenario(file, name, connectAs, List.copyOf(list));
    }

    /**
     * @param paths scenario files, or directories whose {@code *.json} files are scenarios.
     * @return the scenario files, each directory's sorted by name, in the order given.
     */
    public static List<Path> files(final List<Path> paths) throws IOException
    {
        final List<Path> files = new ArrayList<>();
        for (final Path path : paths)
        {
            if (Files.isDirectory(path))
            {
                try (Stream<Path> listing = Files.list(path))
                {
                    listing.filter(file -> file.getFileName().toString().endsWith(".json"))
                        .sorted()
                        .forEach(files::add);
                }
            }
            else
            {
                files.add(path);
            }
        }
        return files;
    }
}
