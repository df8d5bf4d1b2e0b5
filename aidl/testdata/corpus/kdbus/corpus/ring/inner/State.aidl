package kdbus.corpus.ring.inner;

/** The state of the inner ring, a name its outer package declares too. */
@Backing(type="byte")
enum State {
    OPEN,
    CLOSED,
}
