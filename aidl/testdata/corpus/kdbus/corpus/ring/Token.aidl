package kdbus.corpus.ring;

/** A token, with the state of the ring it last went round. */
parcelable Token {
    int id;
    kdbus.corpus.ring.State outer;
    kdbus.corpus.ring.inner.State inner;
}
