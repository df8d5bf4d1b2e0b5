package kdbus.corpus;

/**
 * Constant expressions as the aidl compiler types them: comparisons and logical operators give
 * booleans, which count as 0 or 1 where a number is needed; the u32 and u64 suffixes give an
 * unsigned number's bits; underscores separate digits.
 */
parcelable Exprs {
    const int NOT_OF_MINUS_ONE_IS_ZERO = (~(-1)) == 0;
    const int NEGATIVE_IS_LESS = -0xfffffffffff < 0;
    const boolean NONZERO = 5;
    const int ALL_ONES = 0xFFFFFFFFu32;
    const long HIGH_BITS = 0xC000000000000000u64;
    const long SUM = 0xFFFFFFFFu32 + 0xC000000000000000u64;
    const int SIGN_BIT = 0x8000_0000;
    const int INT_MAX = 2_147_483_647;
    const long TEN = 1_0L;
    const long TEN_BILLION = 10_000_000_000L;
    const byte WRAPS = 0xffu8 + 1 == 0;
    const float TINY = 1e-9f;
    const double PI = 3.141592653589793;
    const double AVOGADRO = 6.02214076e23;

    /** Each check is true: 1. */
    byte[] checks = {0xffu8 + 1 == 0, 255u8 + 1 == 0, 0x80u8 == -128, 0x80u8 / 2 == -0x40u8};
    int flag = 1 < 2; // a comparison initializes an int: 1
    double ratio = 3.141592653589793;
    float small = 1e-9f;
    long mask = 0xFFFF_FFFFu32 & 0xffff_0000;
}
