package io.quotaledger.client;

import io.quotaledger.protocol.Op;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PendingRequestsTest
{
    private static final ResultHandler HANDLER = new ResultHandler()
    {
        public void onResult(final ResultView result)
        {
        }

        public void onFailure(final long requestIdHi, final long requestIdLo, final Throwable cause)
        {
        }
    };

    @Test
    void shouldFindARequestByItsCorrelationIdUntilItIsReleased()
    {
        final PendingRequests pending = new PendingRequests(4);
        final int slot = pending.claim(Op.DEDUCT, 11, 12, HANDLER, 100, 1);
        final long correlationId = pending.correlationId(slot);

        assertEquals(slot, pending.slotOf(correlationId));
        assertEquals(11, pending.requestIdHi(slot));
        assertEquals(12, pending.requestIdLo(slot));
        assertSame(HANDLER, pending.handler(slot));
        assertEquals(1, pending.size());

        pending.release(slot);
        assertEquals(PendingRequests.NO_SLOT, pending.slotOf(correlationId));
        assertEquals(0, pending.size());
        assertEquals(PendingRequests.NO_SLOT, pending.slotOf(0), "0 is the Hello's correlation id");
    }

    @Test
    void shouldTellALateAnswerFromTheAnswerToTheSlotsNextRequest()
    {
        final PendingRequests pending = new PendingRequests(4);
        final int slot = pending.claim(Op.DEDUCT, 1, 1, HANDLER, 100, 1);
        final long first = pending.correlationId(slot);
        pending.release(slot);

        final int reused = pending.claim(Op.DEDUCT, 1, 2, HANDLER, 100, 1);
        assertEquals(slot, reused, "a freed slot is reused first");
        assertNotEquals(first, pending.correlationId(reused));
        assertEquals(PendingRequests.NO_SLOT, pending.slotOf(first), "the second answer to a resend finds nothing");
        assertEquals(reused, pending.slotOf(pending.correlationId(reused)));
    }

    @Test
    void shouldGrowKeepingWhatIsPendingAndListItInTheOrderSent()
    {
        final PendingRequests pending = new PendingRequests(2);
        final long[] sent = new long[10];
        for (int i = 0; i < sent.length; i++)
        {
            final int slot = pending.claim(Op.CREDIT, 5, i, HANDLER, 100, 1);
            pending.frames().putInt(PendingRequests.frameOffset(slot), i);
            pending.frameLength(slot, Integer.BYTES);
            sent[i] = pending.correlationId(slot);
        }
        assertEquals(10, pending.size());
        assertTrue(pending.highWater() >= 10);
        for (int i = 0; i < sent.length; i++)
        {
            final int slot = pending.slotOf(sent[i]);
            assertEquals(i, pending.requestIdLo(slot));
            assertEquals(i, pending.frames().getInt(PendingRequests.frameOffset(slot)), "frames survive growth");
        }
        pending.release(pending.slotOf(sent[3]));
        pending.claim(Op.CREDIT, 5, 10, HANDLER, 100, 1); // takes slot 3 again, sent last
        final long[] inOrder = pending.correlationIdsInOrder();
        assertEquals(10, inOrder.length);
        assertEquals(3, pending.slotOf(inOrder[9]));
        assertArrayEquals(new long[]{ sent[0], sent[1], sent[2] }, Arrays.copyOf(inOrder, 3));
    }

    @Test
    void shouldFitTheLongestRequestFrame()
    {
        assertEquals(130, PendingRequests.FRAME_CAPACITY,
            "SetVirtualKey with 12 services: prefix 4, header 8, block 66, group header 4, 12 services of 4");
    }
}
