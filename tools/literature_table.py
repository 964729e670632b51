"""Print the interface model against the literature table, row by row (Markdown or plain text).

Usage: python tools/literature_table.py [--markdown]
"""

from __future__ import annotations

import argparse

from twin.interface.literature import evaluate_table


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = ap.parse_args()
    results = evaluate_table()
    if args.markdown:
        print("| row | source (DOI) | reported | model | check | ok |")
        print("|---|---|---|---|---|---|")
    for r in results:
        model = f"{r.model:.4g}" + ("" if r.other is None else f" vs {r.other:.4g}")
        doi = f" ({r.doi})" if r.doi else ""
        if args.markdown:
            print(f"| {r.id} | {r.source}{doi} | {r.reported} | {model} | {r.criterion} | "
                  f"{'yes' if r.passed else 'NO'} |")
        else:
            print(f"{'ok  ' if r.passed else 'FAIL'} {r.id:<34} {model:<22} [{r.criterion}]")
    failed = [r.id for r in results if not r.passed]
    print(f"\n{len(results) - len(failed)}/{len(results)} rows reproduced" + (f"; failing: {failed}" if failed else ""))


if __name__ == "__main__":
    main()
