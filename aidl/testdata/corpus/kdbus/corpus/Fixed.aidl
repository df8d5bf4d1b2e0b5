package kdbus.corpus;

/** Fixed-size arrays. */
@FixedSize
parcelable Fixed {
    int[3] triple;
    byte[2][4] matrix;
    long stamp;
}
