package io.quotaledger.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import io.quotaledger.protocol.HelloEncoder;
import io.quotaledger.protocol.HelloResultDecoder;
import io.quotaledger.protocol.MessageHeaderDecoder;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import io.quotaledger.protocol.SnapshotResultDecoder;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A {@code raw} step: bytes sent as written on a plain socket of its own (after a Hello of the scenario's key when
 * {@code afterHello}), then the first answer's code and correlation id, and/or the connection's close, checked. Frames
 * are written and read here from docs/protocol.md, not by the client, which never sends a bad frame.
 */
final class RawStep
{
    /** How long the server has to answer, or to close. */
    static final int READ_TIMEOUT_MILLIS = 10_000;
    private static final int CONNECT_TIMEOUT_MILLIS = 5_000;
    private static final int HEADER = 8;
    private static final int MAX_ANSWER = 4096;

    private RawStep()
    {
    }

    /**
     * @param raw    the step's {@code raw}: {@code hex} and {@code afterHello}.
     * @param expect the step's {@code expect}: {@code code} and {@code correlationId} of the first answer, and/or
     *               {@code closed}.
     * @param apiKey the key of the Hello sent first when {@code afterHello}.
     * @return what differed, or null.
     */
    static String run(final String host, final int port, final JsonNode raw, final JsonNode expect,
        final String apiKey) throws Request.Unclear, IOException
    {
        final byte[] bytes = bytes(raw);
        final boolean afterHello = raw.path("afterHello").asBoolean(false);
        for (final String field : (Iterable<String>)expect::fieldNames)
        {
            if (!List.of("code", "correlationId", "closed").contains(field))
            {
                throw new Request.Unclear("a raw step's expect has no field '" + field + "'");
            }
        }
        if (!expect.has("code") && !expect.path("closed").asBoolean(false))
        {
            throw new Request.Unclear("a raw step expects a code, or closed: true");
        }
        try (Socket socket = new Socket())
        {
            socket.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MILLIS);
            socket.setSoTimeout(READ_TIMEOUT_MILLIS);
            socket.setTcpNoDelay(true);
            final OutputStream out = socket.getOutputStream();
            final DataInputStream in = new DataInputStream(socket.getInputStream());
            if (afterHello)
            {
                out.write(hello(apiKey));
                out.flush();
                final Answer answer = read(in);
                if (answer == null || answer.template() != HelloResultDecoder.TEMPLATE_ID || answer.code() != 0)
                {
                    return "the Hello before the raw bytes was not accepted: " + answer;
                }
            }
            out.write(bytes);
            out.flush();
            if (expect.has("code"))
            {
                final Answer answer = read(in);
                if (answer == null)
                {
                    return "closed without an answer, expected " + expect.get("code").asText();
                }
                final String difference = compare(expect, answer);
                if (difference != null)
                {
                    return difference;
                }
            }
            if (expect.path("closed").asBoolean(false) && !closes(in))
            {
                return "the connection is still open " + READ_TIMEOUT_MILLIS + " ms later, expected it closed";
            }
            return null;
        }
    }

    private static byte[] bytes(final JsonNode raw) throws Request.Unclear
    {
        final String hex = raw.path("hex").asText("").replaceAll("\\s", "");
        for (final String field : (Iterable<String>)raw::fieldNames)
        {
            if (!List.of("hex", "afterHello").contains(field))
            {
                throw new Request.Unclear("raw has no field '" + field + "'");
            }
        }
        try
        {
            final byte[] bytes = HexFormat.of().parseHex(hex);
            if (bytes.length == 0)
            {
                throw new Request.Unclear("raw.hex is empty");
            }
            return bytes;
        }
        catch (final IllegalArgumentException ex)
        {
            throw new Request.Unclear("raw.hex is not hex: " + ex.getMessage());
        }
    }

    private static String compare(final JsonNode expect, final Answer answer) throws Request.Unclear
    {
        final List<String> differences = new ArrayList<>();
        final String code = codeName(answer.code());
        if (!code.equals(expect.get("code").asText()))
        {
            differences.add("code: expected " + expect.get("code").asText() + ", got " + code);
        }
        if (expect.has("correlationId"))
        {
            if (!expect.get("correlationId").isIntegralNumber())
            {
                throw new Request.Unclear("correlationId must be a number, not " + expect.get("correlationId"));
            }
            if (expect.get("correlationId").longValue() != answer.correlationId())
            {
                differences.add("correlationId: expected " + expect.get("correlationId").longValue() + ", got " +
                    answer.correlationId());
            }
        }
        return differences.isEmpty() ? null : String.join("; ", differences);
    }

    /**
     * Hello, version 2: header, correlationId 1, clientVersion 2, then the key as uint16 length and ASCII bytes.
     */
    private static byte[] hello(final String apiKey)
    {
        final byte[] key = apiKey.getBytes(StandardCharsets.US_ASCII);
        final int length = HEADER + HelloEncoder.BLOCK_LENGTH + 2 + key.length;
        final ByteBuffer frame = ByteBuffer.allocate(4 + length).order(ByteOrder.LITTLE_ENDIAN);
        frame.putInt(length)
            .putShort((short)HelloEncoder.BLOCK_LENGTH)
            .putShort((short)HelloEncoder.TEMPLATE_ID)
            .putShort((short)HelloEncoder.SCHEMA_ID)
            .putShort((short)HelloEncoder.SCHEMA_VERSION)
            .putLong(1)
            .putShort((short)HelloEncoder.SCHEMA_VERSION)
            .putShort((short)key.length)
            .put(key);
        return frame.array();
    }

    /**
     * An answer's template, correlation id and code (HelloResult and SnapshotResult have the code at block offset 8,
     * Result at 9, after its op).
     */
    private record Answer(int template, long correlationId, int code)
    {
        public String toString()
        {
            return "template " + template + ", code " + codeName(code) + ", correlationId " + correlationId;
        }
    }

    /**
     * @return the next frame's answer, or null when the connection closed (or was reset) first.
     */
    private static Answer read(final DataInputStream in) throws IOException
    {
        final byte[] prefix = new byte[4];
        try
        {
            in.readFully(prefix);
            final int length = ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).getInt();
            if (length < HEADER + 10 || length > MAX_ANSWER)
            {
                throw new IOException("the server sent a frame of length " + length);
            }
            final byte[] message = new byte[length];
            in.readFully(message);
            final ByteBuffer frame = ByteBuffer.wrap(message).order(ByteOrder.LITTLE_ENDIAN);
            final int template = frame.getShort(2) & 0xFFFF;
            final int codeOffset = template == ResultDecoder.TEMPLATE_ID ? 9 :
                template == HelloResultDecoder.TEMPLATE_ID || template == SnapshotResultDecoder.TEMPLATE_ID ? 8 : -1;
            if (codeOffset < 0)
            {
                throw new IOException("the server sent template " + template + " (header " +
                    HexFormat.of().formatHex(message, 0, MessageHeaderDecoder.ENCODED_LENGTH) + ")");
            }
            return new Answer(template, frame.getLong(HEADER), message[HEADER + codeOffset] & 0xFF);
        }
        catch (final EOFException | SocketException ex)
        {
            return null;
        }
    }

    /**
     * @return whether the server closes the connection within the read timeout (whatever it sends first).
     */
    private static boolean closes(final InputStream in) throws IOException
    {
        final byte[] buffer = new byte[MAX_ANSWER];
        try
        {
            while (in.read(buffer) >= 0)
            {
                // an answer before the close is not what this checks
            }
            return true;
        }
        catch (final SocketTimeoutException ex)
        {
            return false;
        }
        catch (final SocketException ex)
        {
            return true; // reset: closed too
        }
    }

    private static String codeName(final int code)
    {
        try
        {
            return ResultCode.get((short)code).name();
        }
        catch (final IllegalArgumentException ex)
        {
            return "code " + code;
        }
    }
}
