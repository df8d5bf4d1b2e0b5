package com.example.vibrator;

import com.example.vibrator.CompositeEffect;
import com.example.vibrator.Effect;
import com.example.vibrator.EffectStrength;
import com.example.vibrator.IVibratorCallback;

/**
 * A vibration motor, as a phone or a steering wheel has one.
 */
@VintfStability
interface IVibrator {
    /** The motor calls back when a vibration started with on() ends. */
    const int CAP_ON_CALLBACK = 1 << 0;
    /** The motor calls back when an effect started with perform() ends. */
    const int CAP_PERFORM_CALLBACK = 1 << 1;
    /** setAmplitude() works. */
    const int CAP_AMPLITUDE_CONTROL = 1 << 2;
    /** compose() works. */
    const int CAP_COMPOSE_EFFECTS = 1 << 3;
    /** Every capability there is. */
    const int CAP_ALL = CAP_ON_CALLBACK | CAP_PERFORM_CALLBACK | CAP_AMPLITUDE_CONTROL
            | CAP_COMPOSE_EFFECTS;
    /** The longest vibration on() accepts, in milliseconds. */
    const int MAX_ON_MS = 10 * 1000;

    /** Returns the CAP_* bits of what this motor can do. */
    int getCapabilities();

    /** Stops vibrating. */
    void off();

    /**
     * Vibrates for timeoutMs milliseconds, then calls callback.onComplete() when one is given.
     * A vibration already running is replaced.
     */
    void on(in int timeoutMs, in @nullable IVibratorCallback callback);

    /**
     * Plays a predefined effect at the given strength and returns how long it lasts, in
     * milliseconds; calls callback.onComplete() when it ends.
     */
    int perform(in Effect effect, in EffectStrength strength, in @nullable IVibratorCallback callback);

    /** Returns the effects perform() can play. */
    Effect[] getSupportedEffects();

    /** Sets the strength of on() vibrations, from 0 (off) to 1 (full). */
    void setAmplitude(in float amplitude);

    /** Plays the primitives one after another; calls callback.onComplete() at the end. */
    void compose(in CompositeEffect[] composite, in @nullable IVibratorCallback callback);

    /**
     * Queues a short pulse of durationMs milliseconds. Pulses play one after another, in the
     * order they were sent; the caller does not wait.
     */
    oneway void pulse(in int durationMs);

    /**
     * Returns how many pulses have played, and fills durationsMs with their durations in the
     * order they played.
     * @deprecated kept for diagnostics; a client should not depend on it.
     */
    int playedPulses(out int[] durationsMs);
}
