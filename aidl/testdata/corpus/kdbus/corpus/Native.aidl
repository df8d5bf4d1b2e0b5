package kdbus.corpus;

/** A parcelable defined in C++. */
parcelable Native cpp_header "corpus/Native.h" ndk_header "corpus/ndk/Native.h";
