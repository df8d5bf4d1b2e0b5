package kdbus.corpus;

/** An int-backed enum whose values are comparisons, suffixed and separated literals. */
@Backing(type="int")
enum ExprEnum {
    decInt32_1 = (~(-1)) == 0,
    decInt64_0 = (~(-1L)) == 1,
    hexInt32_1 = -0x7fffffff < 0, // a comparison: 1
    SEPARATED = 1_000,
    UNSIGNED = 0xFFFFFFFFu32,
    NEXT, // auto-increment after -1: 0
}
