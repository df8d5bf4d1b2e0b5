package kdbus.corpus;

/**
 * Assistance data for five satellite constellations, each with lists of satellites and
 * corrections: its D-Bus signature is longer than the 255 characters D-Bus allows.
 */
parcelable Assistance {
    parcelable Correction {
        long timeNs;
        double[] coefficients;
        String source;
        float[] sigmas;
    }
    parcelable Satellite {
        int svid;
        int health;
        double[] ephemeris;
        double[] almanac;
        List<Correction> corrections;
        boolean usable;
        long updatedNs;
    }
    parcelable Model {
        double alpha;
        double beta;
        double[] terms;
        int week;
        long toaNs;
    }
    parcelable Constellation {
        Satellite[] satellites;
        Model model;
        List<Correction> ionosphere;
        List<Correction> troposphere;
        int[] unhealthy;
    }
    Constellation gps;
    Constellation glonass;
    Constellation galileo;
    Constellation beidou;
    Constellation qzss;
}
