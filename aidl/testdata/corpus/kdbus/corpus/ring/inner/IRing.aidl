package kdbus.corpus.ring.inner;

import kdbus.corpus.ring.Token;

/** The inner ring: same name as the outer one, in a package that imports it back. */
interface IRing {
    /** Takes the token the outer ring passed. */
    Token take();
    /** A nested parcelable follows the interface's new name. */
    parcelable Slot {
        int index;
        Token token;
    }
    Slot[] slots();
}
