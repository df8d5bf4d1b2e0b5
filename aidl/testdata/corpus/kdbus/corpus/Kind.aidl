package kdbus.corpus;

/** A byte-backed enum with auto-increment and expressions. */
enum Kind {
    NONE,
    SMALL,
    LARGE = SMALL + 10,
    HUGE,
}
