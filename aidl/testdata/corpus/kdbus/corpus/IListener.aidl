package kdbus.corpus;

/** A oneway callback interface. */
oneway interface IListener {
    void onEvent(in String name, in int value);
    void onFile(in FileDescriptor fd);
}
