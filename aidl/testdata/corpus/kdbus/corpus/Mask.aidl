package kdbus.corpus;

/** An int-backed enum without a zero value, with an alias. */
@Backing(type="int")
enum Mask {
    READ = 1 << 0,
    WRITE = 1 << 1,
    ALL = READ | WRITE,
    EVERYTHING = 3,
}
