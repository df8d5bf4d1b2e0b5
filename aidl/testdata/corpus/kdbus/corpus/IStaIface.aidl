package kdbus.corpus;

/** The second interface with a nested FeatureSetMask, sharing a value name with the first. */
interface IStaIface {
    @Backing(type="int")
    enum FeatureSetMask {
        APF = 1 << 0,
        SET_LATENCY_MODE = 1 << 1,
    }

    parcelable Caps {
        FeatureSetMask mask = FeatureSetMask.APF;
    }

    FeatureSetMask features();
    void configure(in Caps caps);
}
