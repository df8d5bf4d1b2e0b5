package kdbus.corpus.ring;

/** The state of the outer ring. */
@Backing(type="int")
enum State {
    IDLE,
    TURNING,
}
