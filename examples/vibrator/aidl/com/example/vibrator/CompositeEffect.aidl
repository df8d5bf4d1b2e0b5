package com.example.vibrator;

import com.example.vibrator.CompositePrimitive;

/** One step of a composed vibration. */
@VintfStability
parcelable CompositeEffect {
    /** Milliseconds to wait before this step. */
    int delayMs;
    CompositePrimitive primitive = CompositePrimitive.CLICK;
    /** Strength of the step, from 0 to 1. */
    float scale = 1.0f;
}
