package kdbus.corpus;

/** A generic parcelable. */
parcelable Pair<A, B> {
    A first;
    B second;
}
