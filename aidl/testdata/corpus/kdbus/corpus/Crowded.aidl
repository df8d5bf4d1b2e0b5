package kdbus.corpus;

/** A union whose members take the oneof's first three names. */
union Crowded {
    int value;
    long member;
    String choice;
}
