package com.example.vibrator;

/**
 * What a vibration's owner hears back. The motor calls it from its own process, so a client
 * serves it.
 */
@VintfStability
oneway interface IVibratorCallback {
    /** The vibration ended, by running its course or by off(). */
    void onComplete();
}
