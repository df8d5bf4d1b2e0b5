package kdbus.corpus.ring;

import kdbus.corpus.ring.inner.State;

/** Passes tokens around a ring. Its package and kdbus.corpus.ring.inner use each other. */
interface IRing {
    /** Hands a token to the next peer. */
    void pass(in Token token);
    /** The state of the inner ring. */
    State innerState();
}
