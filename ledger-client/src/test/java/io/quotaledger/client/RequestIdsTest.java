package io.quotaledger.client;

import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RequestIdsTest
{
    @Test
    void shouldCountUpFromARandomStartUnderAFixedRandomPrefix()
    {
        final RequestIds ids = new RequestIds();
        final long first = ids.nextLo();
        assertEquals(first + 1, ids.nextLo());
        assertEquals(ids.hi(), ids.next().getMostSignificantBits());
        assertNotEquals(new RequestIds().hi(), ids.hi(), "each generator draws its own prefix");
    }

    @Test
    void shouldNeverUseZeroAsThePrefix()
    {
        final Random zeroFirst = new Random()
        {
            private static final long serialVersionUID = 1L;
            private int calls;

            public long nextLong()
            {
                return calls++ == 0 ? 0 : 7;
            }
        };
        assertEquals(7, new RequestIds(zeroFirst).hi());
    }

    @Test
    void shouldHandOutEveryIdOnceAcrossThreads() throws Exception
    {
        final RequestIds ids = new RequestIds();
        final ConcurrentHashMap<Long, Boolean> seen = new ConcurrentHashMap<>();
        final int threads = 4;
        final int each = 20_000;
        final CountDownLatch done = new CountDownLatch(threads);
        for (int t = 0; t < threads; t++)
        {
            new Thread(() ->
            {
                for (int i = 0; i < each; i++)
                {
                    assertTrue(seen.putIfAbsent(ids.nextLo(), Boolean.TRUE) == null);
                }
                done.countDown();
            }).start();
        }
        done.await();
        assertEquals(threads * each, seen.size());
    }
}
