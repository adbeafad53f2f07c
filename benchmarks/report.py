"""Result rows -> derived columns (ratios, FLOP utilisation) -> Markdown tables and README section."""
import json
import os
import re
from typing import Dict, List, Optional, Sequence

CNNLAB_PREFIX = "cnnlab"
PEER_SYSTEMS = ("keras", "torch eager", "torch compile")


def _ok(row) -> bool:
    return row.get("status") == "ok" and row.get("images_per_s")


def add_derived(rows: List[dict], matmul_gflops: Optional[float]) -> List[dict]:
    """Adds `vs_best_peer`, `best_peer`, `flops_per_image` (cnnlab's XLA count for
    every system of a model) and `matmul_fraction` to each row, in place."""
    for model in {r["model"] for r in rows}:
        group = [r for r in rows if r["model"] == model]
        flops = next((r["flops_per_image"] for r in group
                      if r["system"] == CNNLAB_PREFIX and r.get("flops_per_image")), None)
        peers = [r for r in group if r["system"] in PEER_SYSTEMS and _ok(r)]
        best = max(peers, key=lambda r: r["images_per_s"]) if peers else None
        for r in group:
            if not _ok(r):
                continue
            r["flops_per_image"] = r.get("flops_per_image") or flops
            if matmul_gflops and r["flops_per_image"]:
                r["matmul_fraction"] = r["images_per_s"] * r["flops_per_image"] / (matmul_gflops * 1e9)
            if best is not None and r["system"].startswith(CNNLAB_PREFIX):
                r["vs_best_peer"] = r["images_per_s"] / best["images_per_s"]
                r["best_peer"] = best["system"]
    return rows


def _fmt(value, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def throughput_table(rows: Sequence[dict]) -> str:
    """The Markdown throughput table, one line per (model, system)."""
    head = ("| model | system | batch | images/s (median) | min-max | step ms | cnnlab / best peer "
            "| images per CPU-s | compile s | peak RSS MiB | GFLOP/image | % of matmul rate | note |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        if not _ok(r):
            lines.append(f"| {r['model']} | {r['system']} | {_fmt(r.get('batch_size'), 'd')} | "
                         f"{r['status']} | | | | | | | | | {r.get('note', '')} |")
            continue
        ratio = r.get("vs_best_peer")
        ratio_text = f"{ratio:.2f} (vs {r['best_peer']})" if ratio is not None else ""
        frac = r.get("matmul_fraction")
        lines.append(
            f"| {r['model']} | {r['system']} | {r['batch_size']} | {r['images_per_s']:.1f} | "
            f"{r['images_per_s_min']:.1f}-{r['images_per_s_max']:.1f} | {r['step_ms']:.1f} | "
            f"{ratio_text} | {_fmt(r.get('images_per_cpu_s'), '.1f')} | "
            f"{r['compile_s']:.1f} | {r['peak_rss_mb']:.0f} | "
            f"{_fmt(r.get('flops_per_image') and r['flops_per_image'] / 1e9, '.3f')} | "
            f"{_fmt(frac and 100 * frac, '.1f')} | {r.get('note', '')} |")
    return "\n".join(lines)


def ratio_summary(rows: Sequence[dict]) -> Dict[str, float]:
    """{model: cnnlab float32 images/s / best peer images/s} for models with both."""
    return {r["model"]: r["vs_best_peer"] for r in rows
            if r["system"] == CNNLAB_PREFIX and r.get("vs_best_peer") is not None}


def replace_section(text: str, name: str, body: str) -> str:
    """Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->`,
    or appends the marked section when the markers are absent."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + "\n\n" + block + "\n"


def write_results(out_dir: str, name: str, payload: dict, markdown: str, readme: str = "") -> None:
    """Writes `<name>.json` and `<name>.md` into `out_dir`, and the `name` section of `readme` if given."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(payload, f, indent=1)
    with open(os.path.join(out_dir, f"{name}.md"), "w") as f:
        f.write(markdown)
    if readme:
        with open(readme) as f:
            text = f.read()
        with open(readme, "w") as f:
            f.write(replace_section(text, name, markdown))


def pipeline_table(rows: Sequence[dict]) -> str:
    """The Markdown input-pipeline table: loader alone vs the step it feeds."""
    lines = ["| case | model | batch | augmentation (on device) | loader alone | augmentation alone "
             "| step alone | step fed by loader | fed / step | note |", "|" + "---|" * 10]
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"| {r.get('case')} | | | | {r.get('status')} | | | | | {r.get('note', '')} |")
            continue
        aug = ", ".join(f"{k}={v}" for k, v in r["augment"].items())
        lines.append(
            f"| {r['case']} | {r['model']} | {r['batch_size']} | {aug} | "
            f"{r['loader_images_per_s']:.0f} | {r['augment_images_per_s']:.0f} | "
            f"{r['step_images_per_s']:.0f} | {r['fed_images_per_s']:.0f} | "
            f"{r['fed_over_step']:.2f} | {r.get('note', '')} |")
    return "\n".join(lines)
