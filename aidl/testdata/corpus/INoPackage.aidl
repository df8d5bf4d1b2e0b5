/*
 * Copyright (C) 2025 the kdbus-go authors.
 *
 * A licence header: not the interface's documentation.
 */

interface INoPackage {
    void ping();
    String echo(in String text);
}
