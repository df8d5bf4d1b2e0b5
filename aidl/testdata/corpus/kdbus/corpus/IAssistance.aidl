package kdbus.corpus;

import kdbus.corpus.Assistance;

/** Takes a request whose D-Bus signature is too long for D-Bus. */
interface IAssistance {
    void inject(in Assistance data);
    Assistance current();
}
