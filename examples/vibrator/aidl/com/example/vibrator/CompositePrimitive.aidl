package com.example.vibrator;

/** The building blocks compose() plays. */
@VintfStability
@Backing(type="int")
enum CompositePrimitive {
    /** Nothing: a pause. */
    NOOP,
    CLICK,
    THUD,
    SPIN,
    QUICK_RISE,
    SLOW_RISE,
    QUICK_FALL,
}
