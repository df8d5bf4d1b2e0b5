package kdbus.corpus;

/** A second use of the generic Pair, from another file: its instance joins Pair's file. */
parcelable Ranked {
    Pair<int, String> best;
    List<Pair<long, Kind>> others;
}
