package io.quotaledger.core;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

class RequestIdIndexTest
{
    private record Id(long hi, long lo)
    {
    }

    @Test
    void shouldAgreeWithAHashMapUnderRandomChurn()
    {
        final long seed = System.nanoTime();
        final SplittableRandom random = new SplittableRandom(seed);
        final RequestIdIndex index = new RequestIdIndex(64, true);
        final Map<Id, Integer> model = new HashMap<>();
        final List<Id> known = new ArrayList<>();
        for (int i = 0; i < 500_000; i++)
        {
            // few distinct high halves and clustered low halves: ids that collide in a weak hash
            final Id id = random.nextInt(4) == 0 && !known.isEmpty() ?
                known.get(random.nextInt(known.size())) :
                new Id(random.nextInt(3), random.nextInt(20_000) + 1);
            switch (random.nextInt(3))
            {
                case 0 ->
                {
                    index.put(id.hi, id.lo, i);
                    model.put(id, i);
                    known.add(id);
                }
                case 1 ->
                {
                    final Integer value = model.get(id);
                    final int guess = value != null && random.nextBoolean() ? value : -7;
                    final boolean removed = index.remove(id.hi, id.lo, guess);
                    assertEquals(value != null && value == guess, removed, "seed " + seed);
                    if (removed)
                    {
                        model.remove(id);
                    }
                }
                default -> assertEquals(model.getOrDefault(id, RequestIdIndex.MISSING),
                    index.get(id.hi, id.lo), "seed " + seed);
            }
            assertEquals(model.size(), index.size(), "seed " + seed);
        }
        for (final Map.Entry<Id, Integer> e : model.entrySet())
        {
            assertEquals(e.getValue(), index.get(e.getKey().hi, e.getKey().lo), "seed " + seed);
        }
    }

    @Test
    void shouldNeverConfuseIdsThatShareAHalf()
    {
        final RequestIdIndex index = new RequestIdIndex(16, true);
        index.put(1, 2, 10);
        index.put(2, 1, 20);
        index.put(1, 3, 30);
        assertEquals(10, index.get(1, 2));
        assertEquals(20, index.get(2, 1));
        assertEquals(30, index.get(1, 3));
        assertEquals(RequestIdIndex.MISSING, index.get(3, 1));
        assertFalse(index.remove(1, 2, 99), "only while it maps to the given value");
        assertEquals(10, index.get(1, 2));
    }

    @Test
    void shouldRefuseToGrowWhenFixed()
    {
        final RequestIdIndex index = new RequestIdIndex(16, false);
        assertThrows(IllegalStateException.class, () ->
        {
            for (int i = 1; i < 1000; i++)
            {
                index.put(7, i, i);
            }
        });
    }
}
