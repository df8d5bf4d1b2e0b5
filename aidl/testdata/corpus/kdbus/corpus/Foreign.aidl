package kdbus.corpus;

/** A parcelable defined in Rust. */
parcelable Foreign rust_type "kdbus_corpus::Foreign";
