package io.quotaledger.core;

import org.junit.jupiter.api.Test;

class ScratchTraceTest
{
    @Test
    void trace()
    {
        final long seed = Long.getLong("ledger.seed", 1);
        final int upTo = Integer.getInteger("trace.upTo", 554);
        final long user = Long.getLong("trace.user", -999);
        final LedgerConfig config = "tight".equals(System.getProperty("trace.config")) ? LedgerRandomizedTest.tightConfig() : LedgerRandomizedTest.smallConfig();
        final RandomCommandGenerator gen = new RandomCommandGenerator(seed, config);
        final ReferenceLedger model = new ReferenceLedger(config);
        final Ledger ledger = new Ledger(config, o -> { if (o.userId() == user) System.out.println("      outcome " + o); });
        final Command c = new Command();
        final Result r = new Result();
        java.util.Set<String> holds = new java.util.HashSet<>();
        for (int i = 1; i <= upTo; i++)
        {
            gen.next(c);
            final Result m = model.process(c);
            ledger.process(c, r.reset());
            final String id = System.getProperty("trace.id", "x"); boolean show = (Long.toHexString(c.requestIdHi()) + ":" + Long.toHexString(c.requestIdLo())).equals(id) || (Long.toHexString(c.holdIdHi()) + ":" + Long.toHexString(c.holdIdLo())).equals(id) || c.userId() == user || (c.op() == Op.RESERVE && c.userId() == user) || holds.contains(c.holdIdHi() + ":" + c.holdIdLo()) || c.op() == Op.TICK && !model.lastExpired().isEmpty();
            if (c.op() == Op.RESERVE && c.userId() == user) holds.add(c.requestIdHi() + ":" + c.requestIdLo());
            if (show)
            {
                System.out.println(i + ": " + c + "\n   model  " + m + " expired " + model.lastExpired() + "\n   ledger " + r);
            }
        }
    }
}
