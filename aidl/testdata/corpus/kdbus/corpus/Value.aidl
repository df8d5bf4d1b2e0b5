package kdbus.corpus;

import kdbus.corpus.Kind;
import kdbus.corpus.Settings;

/** A union with scalar, string, list, array and parcelable members. */
union Value {
    const int TAG_COUNT = 6;
    int number = 7;
    String text;
    List<String> words;
    byte[] raw;
    Kind kind;
    Settings settings;
}
