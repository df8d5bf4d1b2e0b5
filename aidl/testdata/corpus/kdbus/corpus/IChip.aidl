package kdbus.corpus;

/** An interface with a nested enum whose name another interface's nested enum has too. */
interface IChip {
    @Backing(type="int")
    enum FeatureSetMask {
        WIGIG = 1 << 0,
        SET_LATENCY_MODE = 1 << 1,
    }

    FeatureSetMask features();
}
