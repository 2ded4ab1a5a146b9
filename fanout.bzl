"""Shared compiler options for every Fanout target."""

FANOUT_COPTS = [
    "-std=c++20",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]
