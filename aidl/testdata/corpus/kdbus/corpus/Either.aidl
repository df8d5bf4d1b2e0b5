package kdbus.corpus;

/** A generic union. */
union Either<L, R> {
    L left;
    R right;
}
