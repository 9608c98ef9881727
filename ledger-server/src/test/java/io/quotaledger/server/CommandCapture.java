package io.quotaledger.server;

import com.lmax.disruptor.EventHandler;
import io.quotaledger.core.Command;
import io.quotaledger.core.Result;
import io.quotaledger.engine.LedgerEvent;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * An engine stage for tests, after the journal: keeps a copy of every client command as the ledger got it (what the
 * server decoded), and may rewrite results before they are answered, to stand in for ledger rules that are not
 * there. Ticks and state requests (no listener) pass untouched. Public for the command line's tests.
 */
public final class CommandCapture implements EventHandler<LedgerEvent>
{
    private final BlockingQueue<Command> commands = new LinkedBlockingQueue<>();
    private volatile BiConsumer<Command, Result> rewrite = (command, result) -> {};

    /**
     * From now on every client command's result is passed through {@code rewrite} before it is answered.
     */
    public CommandCapture rewrite(final BiConsumer<Command, Result> rewrite)
    {
        this.rewrite = rewrite;
        return this;
    }

    public void onEvent(final LedgerEvent event, final long sequence, final boolean endOfBatch)
    {
        if (event.listener() != null)
        {
            commands.add(new Command().copyFrom(event.command()));
            rewrite.accept(event.command(), event.result());
        }
    }

    /**
     * @return the next command captured, waiting for it up to 10 s.
     */
    public Command next() throws InterruptedException
    {
        final Command command = commands.poll(10, TimeUnit.SECONDS);
        assertNotNull(command, "no command reached the ledger");
        return command;
    }
}
