package kdbus.corpus;

import kdbus.corpus.Either;
import kdbus.corpus.common.Range;

/** A recursive parcelable with nested generic types. */
@RustDerive(Clone=true, PartialEq=true)
@JavaDerive(equals=true)
parcelable Tree {
    /** Children are kept on the heap. */
    @nullable(heap=true) Tree left;
    @nullable(heap=true) Tree right;
    List<List<Range>> levels;
    Map<String, List<Range>> spans;
    @nullable List<@nullable String> maybeNames;
    Either<String, Range> choice;
    byte[] blob = {0x01, 0x7f, 0xff};
    char[] letters = {'a', 'b'};
    float[] weights = {0.5f, 1, 2.25f};
    String[] words = {"one", "two" + "!"};
}
