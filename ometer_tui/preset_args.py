"""The headless ``run`` command's ``--preset NAME`` (issue #11): the run panel's load
presets (``core/bench/workloads/presets.py``) on the command line. The preset fills the
load flags; a flag given explicitly wins (``presets.under_preset``), and the result goes
over the settings' ``[defaults]`` load keys as the flags would.

Kept out of ``cli.py`` and ``headless.py`` (they call in here) so that parsing stays
lazy.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ometer_tui.core.bench.workloads.options import LoadOptions


def _preset(text: str) -> str:
    from ometer_tui.core.bench.workloads.presets import preset_named

    try:
        return preset_named(text).id
    except KeyError as exc:
        raise argparse.ArgumentTypeError(str(exc.args[0])) from None


def add_preset_argument(parser: argparse.ArgumentParser) -> None:
    """``--preset NAME`` in the ``load shape`` group's neighbourhood."""
    from ometer_tui.core.bench.workloads.presets import BY_ID

    parser.add_argument(
        "--preset",
        type=_preset,
        metavar="NAME",
        help=f"start the load from a preset ({', '.join(BY_ID)}: README 'Load shapes and "
        "workloads'); the load flags given override its values",
    )


def load_options(args: argparse.Namespace) -> LoadOptions:
    """The load flags' options over ``--preset``'s (when given). Raises
    ``WorkloadError`` with one line naming the flag."""
    from ometer_tui.workload_args import options_from_args

    given = options_from_args(args)
    name = getattr(args, "preset", None)
    if name is None:
        return given
    from ometer_tui.core.bench.workloads.presets import preset_named, under_preset

    return under_preset(given, preset_named(name))
