package kdbus.corpus;

import kdbus.corpus.common.Range;

/** Nullable return values. */
interface ILookup {
    /** The name, or null when there is none. */
    @nullable String name(); // null when unnamed

    @nullable Range bounds();

    @nullable String[] aliases();
}
