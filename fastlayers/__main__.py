"""The ``fastlayers`` command (also ``python -m fastlayers``)."""

import argparse
import sys


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fastlayers")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastlayers", description="fastlayers: fast custom layers.")
    parser.add_argument("--version", action="version", version=f"fastlayers {_version()}")
    sub = parser.add_subparsers(dest="command")
    bench = sub.add_parser("bench", help="benchmark every kernel against NumPy and print the report")
    bench.add_argument("--quick", action="store_true", help="the small ladder: under a minute")
    bench.add_argument("--json", metavar="PATH", help="save every measurement as JSON")
    bench.add_argument("--plot", metavar="PATH", help="save a PNG chart of speed-up against size (needs matplotlib)")
    bench.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="the CPU kernels (default) or the GPU ones")
    bench.add_argument("--only", metavar="KERNEL", action="append",
                       help="only these kernels (repeatable; a name matches itself and its _backward)")
    bench.add_argument("--busy", metavar="N", type=int, default=0,
                       help="run beside N busy-loop processes (a plain Python loop each, normal priority): the busy case")
    args = parser.parse_args(argv)
    if args.command is None:  # bare `fastlayers`
        parser.print_help()
        return 0
    from .bench import report

    return report.main(quick=args.quick, json_path=args.json, plot_path=args.plot, device=args.device, only=args.only,
                       busy=args.busy)


if __name__ == "__main__":
    sys.exit(main())
