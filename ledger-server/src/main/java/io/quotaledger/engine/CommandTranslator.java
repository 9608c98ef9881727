package io.quotaledger.engine;

import io.quotaledger.core.Command;

/**
 * Writes a request straight into a ring slot's command (e.g. from a decoded network frame), so that no intermediate
 * object exists. The command has been reset; the engine writes the timestamp.
 *
 * @param <A> what the request is read from.
 */
@FunctionalInterface
public interface CommandTranslator<A>
{
    void translateTo(Command command, A source);
}
