package example.kdbus.app;

import kdbus.corpus.common.Range;

/**
 * A package one of whose names (kdbus) starts another package it uses: the type names of its
 * proto are written in full, as a relative kdbus.corpus.common.Range would be looked for in
 * example.kdbus first.
 */
interface IApp {
    Range span();
}
