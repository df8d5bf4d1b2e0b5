package kdbus.corpus;

/** A long-backed enum whose values all fit an int. */
@Backing(type="long")
enum Small {
    ONE = 1,
    TWO,
}
