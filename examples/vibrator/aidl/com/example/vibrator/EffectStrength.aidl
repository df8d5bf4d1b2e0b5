package com.example.vibrator;

/** How strongly an effect plays. */
@VintfStability
@Backing(type="byte")
enum EffectStrength {
    LIGHT = 1,
    MEDIUM,
    STRONG,
}
