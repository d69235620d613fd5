#!/usr/bin/python3
"""plot.py DIR: draw DIR/bench.png from the figures the benchmarks left in
DIR (nft.json, fib.json, scale.json); a missing one leaves its panel out.
Runs on the host after `make bench` (Debian's python3-matplotlib)."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(folder, name):
    try:
        with open(os.path.join(folder, f"{name}.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def per_rule(ax, fig, columns, title):
    sizes = [r[0] for r in fig["rows"]]
    # a benchmark that takes several rounds gives the per-rule medians itself
    costs = fig.get("per_rule") or [[r[0]] + [(x - fig["base"]) / r[0] for x in r[1:]]
                                    for r in fig["rows"]]
    for i, label in columns:
        ax.plot(sizes, [c[i] for c in costs], "o-", label=label)
    ax.set_xscale("log")
    ax.set(title=title, xlabel="rules before the verdict", ylabel="virtual ns per rule")
    ax.legend()


def traits(ax, fig):
    n = [r[0] for r in fig["traits"]]
    t0 = fig["traits"][0][1]
    ax.plot(n, [t - t0 for _, t in fig["traits"]], "o-")
    ax.set(title="traits set in XDP and handed over", xlabel="traits per packet",
           ylabel="virtual ns per packet over 0 traits")


def batch(ax, fig):
    b = [r[0] for r in fig["batch"]]
    ax.plot(b, [r[1] for r in fig["batch"]], "o-", label="no trait")
    ax.plot(b, [r[2] for r in fig["batch"]], "o-", label="1 trait")
    ax.set_xscale("log", base=2)
    ax.set(title="sender batch (UDP GSO segments per send)", xlabel="datagrams per send",
           ylabel="virtual ns per packet, to the socket")
    ax.legend()


def main():
    folder = sys.argv[1]
    panels = []
    nft, fib, scale = (load(folder, n) for n in ("nft", "fib", "scale"))
    if nft:
        panels.append(lambda ax: per_rule(ax, nft, ((1, "meta mark"), (2, "meta trait")),
                                          "nft: a rule on a trait vs on the mark"))
    if fib:
        panels.append(lambda ax: per_rule(ax, fib, ((1, "fwmark"), (2, "trait")),
                                          "ip rule: trait vs fwmark"))
    if scale:
        panels += [lambda ax: traits(ax, scale), lambda ax: batch(ax, scale)]
    if not panels:
        print(f"plot: no benchmark figures in {folder}", file=sys.stderr)
        return 1
    cols = min(len(panels), 2)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.5 * rows), squeeze=False)
    for draw, ax in zip(panels, axes.flat):
        draw(ax)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("Packet traits under qemu -icount (virtual ns = guest instructions)")
    fig.tight_layout()
    out = os.path.join(folder, "bench.png")
    fig.savefig(out, dpi=100)
    print(f"plot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
