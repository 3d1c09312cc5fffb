"""The built-in demo endpoint: simulated models with known timing and named faults.

:mod:`ometer_tui.demo.catalogue` is the truth (models, timings, faults);
:mod:`ometer_tui.demo.server` serves it over HTTP in both API flavours.
"""
