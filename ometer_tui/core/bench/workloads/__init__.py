"""What a load sends and when: arrival processes, ramp-up, stop conditions, length specs,
datasets, synthetic prompts of a target token length, shared prefixes and multi-turn.

``spec.LoadSpec`` is the one description a plan carries (``BenchmarkPlan.load``); the
runner turns it into requests (``source``) and a timetable (``arrivals``). Import the
submodules directly: this package imports nothing at load time, so ``records`` can refer
to ``record.LoadStamp`` without an import cycle.
"""
