package kdbus.corpus;

/** A union with a member named value, the name a union's oneof takes otherwise. */
union Spi {
    boolean noinit;
    int value;
}
