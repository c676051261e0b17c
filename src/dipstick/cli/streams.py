"""``dipstick streams``: value stream maps, hand-given and discovered from event logs."""

from __future__ import annotations

from dipstick import render
from dipstick.cli.app import FormatOpt, PackageArg, _check_format, _fail, _print_json, app, out
from dipstick.errors import DipstickError
from dipstick.package import load_package


@app.command()
def streams(path: PackageArg, fmt: FormatOpt = "table") -> None:
    """Show the value stream maps of a package: lead time, process time, activity ratio,
    rolled %C&A and the bottleneck, step by step."""
    from dipstick.streams import measure_stream

    _check_format(fmt)
    try:
        package = load_package(path)
    except DipstickError as e:
        raise _fail(e, fmt) from None
    package.close()
    measured = [measure_stream(v) for v in package.model.value_streams if v.steps]
    if fmt == "json":
        _print_json([m.to_json() for m in measured])
        return
    if not measured:
        out.print("No value stream with hand-given steps in this package.")
    for m in measured:
        out.print(render.stream_table(m))


