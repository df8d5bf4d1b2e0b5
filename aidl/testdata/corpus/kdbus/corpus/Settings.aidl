package kdbus.corpus;

import kdbus.corpus.Kind;
import kdbus.corpus.Pair;
import kdbus.corpus.common.Range;

/**
 * Every kind of field, with defaults.
 * @hide
 */
@JavaDerive(equals=true, toString=true)
@VintfStability
parcelable Settings {
    const String PREFIX = "corpus" + "-" + 2;
    const long LIMIT = 1L << 40;
    const double HALF = 1.0 / 2;
    const boolean ON = LIMIT > 0 && !false;
    const char LETTER = 'k';
    const byte TOP = 0xff;
    const int CHOSEN = LIMIT > 5 ? 1 : 2;

    /** Nested enum. */
    enum Mode { OFF, ON, AUTO = 5 }
    /** Nested parcelable. */
    parcelable Entry {
        String key;
        @nullable String value;
    }

    boolean enabled = true;
    byte level = -3;
    char initial = 'a';
    int count = 10 * 2 + 1;
    long total = 0x7fffffffffL;
    float ratio = 0.25f;
    double precise = 1e-3;
    String name = PREFIX;
    @utf8InCpp String label;
    @nullable String note;
    CharSequence summary;
    Kind kind = Kind.LARGE;
    Mode mode = Mode.AUTO;
    int[] numbers = {1, 2, 3};
    String[] names;
    List<String> tags;
    List<Entry> entries;
    Map<String, Entry> byKey;
    Map<String, int[]> lists;
    int[][] grid;
    Range range;
    @nullable Range maybeRange;
    Pair<String, Range> named;
    ParcelFileDescriptor file;
    @nullable IBinder token;
    ParcelableHolder extension;
    /** @deprecated use total */
    int legacyTotal;
}
