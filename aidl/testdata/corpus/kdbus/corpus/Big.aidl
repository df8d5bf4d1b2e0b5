package kdbus.corpus;

/** A long-backed enum whose values do not fit an int. */
@Backing(type="long")
enum Big {
    ZERO = 0L,
    HUGE = 1L << 40,
    NEGATIVE = -(1L << 33),
}
