package kdbus.corpus.common;

/** A closed range of ints, from another package. */
parcelable Range {
    int low;
    int high = 100;
}
