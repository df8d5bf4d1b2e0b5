package kdbus.corpus;

import kdbus.corpus.IListener;
import kdbus.corpus.Kind;
import kdbus.corpus.Settings;
import kdbus.corpus.Value;
import kdbus.corpus.common.Range;

/**
 * A store with every kind of method.
 */
@Descriptor(value="org.kdbusgo.corpus.Store1")
interface IStore {
    /** Capability bits. */
    const int CAP_READ = 1 << 0;
    const int CAP_WRITE = 1 << 1;
    const int CAP_ALL = CAP_READ | CAP_WRITE;
    const String NAME = "store";

    /** A parcelable nested in an interface. */
    parcelable Stat {
        long size;
        Kind kind = Kind.SMALL;
    }

    int capabilities() = 1;
    void put(in String key, in Value value) = 2;
    @nullable Value get(in String key) = 3;
    boolean fill(in String prefix, out String[] keys, inout int[] counts) = 4;
    Stat stat(in String key, out Settings settings) = 5;
    void listen(in IListener listener, in @nullable IBinder token) = 6;
    oneway void touch(in String key) = 7;
    ParcelFileDescriptor open(in String key, in FileDescriptor hint) = 8;
    List<Range> ranges(in List<String> keys, in Map<String, Range> hints) = 9;
    Settings[] all() = 10;
    /** @deprecated use get */
    Value fetch(in String key) = 11;
    /** Which member a stored value holds: the union's implicit Tag enum. */
    Value.Tag kindOf(in String key) = 12;
    /** Keys in groups: a list of lists, as Value's list member is. */
    List<List<String>> groups() = 13;
}
