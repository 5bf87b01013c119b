"""The ``rsft`` command line. Only this package parses arguments or prints to the terminal."""
