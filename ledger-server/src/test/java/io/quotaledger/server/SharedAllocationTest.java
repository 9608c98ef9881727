package io.quotaledger.server;

import io.netty.util.ResourceLeakDetector;
import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.DeductEncoder;
import io.quotaledger.protocol.MessageHeaderEncoder;
import io.quotaledger.protocol.Op;
import io.quotaledger.protocol.ResultCode;
import io.quotaledger.protocol.ResultDecoder;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.DataInputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * In shared threading the whole path of a request runs on the ledger's one thread: socket read, decode, decide,
 * journal, encode, write. In steady state that thread allocates nothing per request: counted with the JVM's
 * per-thread allocation counter over a pipelined run of journaled deducts, not timed. Netty's leak detector is off
 * meanwhile: it samples one buffer in 128 and records where it goes, which allocates by design. Both protocol
 * versions: a version-1 connection's requests and results are other lengths, through the same code.
 */
class SharedAllocationTest
{
    private static final int HEADER = MessageHeaderEncoder.ENCODED_LENGTH;
    private static final int DEDUCT_V1_BLOCK = DeductEncoder.virtualKeyIdEncodingOffset();
    private static final int RESULT_V1_BLOCK = ResultDecoder.virtualKeyIdEncodingOffset();
    private static final int BURST = 64;
    private static final int REQUESTS = BURST * 1_600;

    @TempDir
    Path dir;

    private long requestId;

    @ParameterizedTest
    @ValueSource(ints = { 1, 2 })
    void shouldNotAllocatePerRequestOnTheLedgerThreadInSteadyState(final int version) throws Exception
    {
        final int deductFrame = 4 + HEADER + (version == 1 ? DEDUCT_V1_BLOCK : DeductEncoder.BLOCK_LENGTH);
        final int resultFrame = 4 + HEADER + (version == 1 ? RESULT_V1_BLOCK : ResultDecoder.BLOCK_LENGTH);
        final ResourceLeakDetector.Level leakDetection = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        try (TestServer ledger = new TestServer(Threading.SHARED, dir);
            Socket socket = new Socket())
        {
            final long ledgerThread = ledger.runtime.engine().eventLoop().submit(() -> Thread.currentThread().getId())
                .get(10, TimeUnit.SECONDS);
            socket.connect(new InetSocketAddress("127.0.0.1", ledger.port()));
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(10_000);
            final OutputStream out = socket.getOutputStream();
            final DataInputStream in = new DataInputStream(socket.getInputStream());
            final byte[] answers = new byte[resultFrame * BURST];
            out.write(Frames.withVersion(Frames.hello(ledger.adminKey), version));
            in.readFully(answers, 0, 4);
            in.readFully(answers, 4, new UnsafeBuffer(answers).getInt(0, ByteOrder.LITTLE_ENDIAN));
            out.write(Frames.credit(0, 1, 1, 1, 1L << 40));
            in.readFully(answers, 0, resultFrame);

            final byte[] burst = new byte[deductFrame * BURST];
            run(out, in, burst, answers, REQUESTS); // warm up: buffers, pools and tables at their size, the JIT done

            final com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
            final long before = threads.getThreadAllocatedBytes(ledgerThread);
            run(out, in, burst, answers, REQUESTS);
            final long allocated = threads.getThreadAllocatedBytes(ledgerThread) - before;

            // one object per request would be 16 bytes a request at least; what is left is amortised (the journal's
            // files growing, and checks that run only under -ea in third-party code)
            assertTrue(allocated < REQUESTS / 2, "the ledger's thread allocated " + allocated + " bytes over " +
                REQUESTS + " requests");
            assertEquals(2L * REQUESTS, ledger.metrics.results(Op.DEDUCT, ResultCode.OK));
        }
        finally
        {
            ResourceLeakDetector.setLevel(leakDetection);
        }
    }

    /**
     * Bursts of deducts, each written in one go and answered before the next; the frame's length says the version.
     */
    private void run(
        final OutputStream out, final DataInputStream in, final byte[] burst, final byte[] answers, final int requests)
        throws Exception
    {
        final int deductFrame = burst.length / BURST;
        final UnsafeBuffer frames = new UnsafeBuffer(burst);
        final UnsafeBuffer one = new UnsafeBuffer(new byte[4 + HEADER + DeductEncoder.BLOCK_LENGTH]);
        final DeductEncoder deduct = new DeductEncoder();
        final MessageHeaderEncoder header = new MessageHeaderEncoder();
        for (int sent = 0; sent < requests; sent += BURST)
        {
            for (int i = 0; i < BURST; i++)
            {
                // encoded in version 2, then cut to the version the frame's length says
                deduct.wrapAndApplyHeader(one, 4, header).correlationId(i);
                deduct.requestId().hi(2).lo(++requestId);
                deduct.userId(1).serviceId(1).amount(1).virtualKeyId(0).units(0);
                final int blockLength = deductFrame - 4 - HEADER;
                header.blockLength(blockLength).version(blockLength == DeductEncoder.BLOCK_LENGTH ? 2 : 1);
                one.putInt(0, deductFrame - 4, ByteOrder.LITTLE_ENDIAN);
                frames.putBytes(i * deductFrame, one, 0, deductFrame);
            }
            out.write(burst);
            in.readFully(answers);
        }
    }
}
