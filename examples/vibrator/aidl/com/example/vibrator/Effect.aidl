package com.example.vibrator;

/** Predefined vibration effects. */
@VintfStability
@Backing(type="int")
enum Effect {
    /** A crisp single tap. */
    CLICK,
    /** Two taps in quick succession. */
    DOUBLE_CLICK,
    /** A very light tap. */
    TICK,
    /** A low, heavy knock. */
    THUD = 10,
    /** A short bubble. */
    POP,
    /** A stronger click. */
    HEAVY_CLICK,
}
