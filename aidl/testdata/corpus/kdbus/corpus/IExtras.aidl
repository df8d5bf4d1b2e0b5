package kdbus.corpus;

import kdbus.corpus.IListener;
import kdbus.corpus.IStore;
import kdbus.corpus.Settings;
import kdbus.corpus.Settings.Mode;
import kdbus.corpus.Tree;
import kdbus.corpus.Value;
import kdbus.corpus.common.Range;

// An interface whose methods carry the annotations of permissions and pass-through, and
// whose arguments go out in every way AIDL allows.
@SensitiveData
@JavaPassthrough(annotation="@org.kdbusgo.Sample")
interface IExtras {
    /** Built from constants of other files. */
    const int LIMIT = IStore.CAP_ALL * 100 + Settings.CHOSEN;
    const String TAGGED = IStore.NAME + ":" + Settings.PREFIX;
    const long MASK = ~(1L << 63);
    const boolean BIG = LIMIT >= 300 || MASK < 0;
    const int PICKED = (LIMIT & 0xff) > 16 ? LIMIT % 7 : -LIMIT;

    @EnforcePermission("READ_STORE")
    int[] counts(in int[3] window);

    @EnforcePermission(allOf={"READ_STORE", "WRITE_STORE"})
    void collect(out List<String> names, out Map<String, Range> spans, inout Settings settings);

    @SuppressWarnings(value={"inout-parameter", "out-array"})
    void swap(inout Value value, out Tree tree, inout Range[] ranges);

    @PropagateAllowBlocking
    IListener listener();

    @nullable ParcelFileDescriptor reopen(in ParcelFileDescriptor fd, out ParcelFileDescriptor copy);

    Mode mode(in Value value);

    @JavaPassthrough(annotation="@org.kdbusgo.Idempotent")
    oneway void ping();
}
