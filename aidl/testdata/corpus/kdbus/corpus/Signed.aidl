package kdbus.corpus;

import kdbus.corpus.Kind;

// A byte-backed enum with negative and hex values, and a value taken from another enum.
@Backing(type="byte")
enum Signed {
    /** The smallest byte. */
    MIN = -128,
    // After MIN.
    NEXT,
    ZERO = 0,
    TOP = 0x7f,
    FROM_KIND = Kind.LARGE, // 11
    /**
     * Twice the previous one.
     * @deprecated use FROM_KIND
     */
    DOUBLED = FROM_KIND * 2,
}
