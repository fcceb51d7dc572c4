"""``python -m course_utils.site build OUT_DIR``: build the course site (see the README)."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.site",
                                     description="Build the course as a static site (offline).")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the site into OUT_DIR (its home page: OUT_DIR/index.html)")
    b.add_argument("out_dir", help="an empty folder, or one made by an earlier build (it is replaced)")
    b.add_argument("-j", "--jobs", type=int, default=2, help="worker processes (default 2)")
    b.add_argument("--explorers", default=None,
                   help="comma-separated catalogue names to pre-render (default: all; for quick checks)")
    b.add_argument("--notebooks", default=None,
                   help="comma-separated notebook stems to include (default: all; for quick checks)")
    b.add_argument("--frame-budget", default="full",
                   help="full (default: docs/site/frames.toml as it is) or small (a few positions per "
                        "control: the test suite's quick build)")
    args = parser.parse_args(argv)
    from course_utils.site.build import build

    names = None if args.explorers is None else [n for n in args.explorers.split(",") if n]
    stems = None if args.notebooks is None else [n for n in args.notebooks.split(",") if n]
    report = build(args.out_dir, jobs=args.jobs, explorers=names, notebooks=stems,
                   frame_budget=args.frame_budget, log=lambda m: print(m, flush=True))
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
