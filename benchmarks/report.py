"""Write the results: JSON (everything), a Markdown table (the headline figures), a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def ratio(a: float, b: float) -> float:
    return round(a / b, 2)


def _get(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _met(value: float | None, target: float, at_most: bool) -> str:
    if value is None:
        return "not measured"
    ok = value <= target if at_most else value >= target
    return "yes" if ok else "**no**"


def markdown(res: dict[str, Any], command: str) -> str:
    m = res["machine"]
    lines = [
        "# CPU benchmark results",
        "",
        f"Command: `{command}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), "
        f"Python {m['python']}, torch {m['torch']}, torchvision {m['torchvision']}, "
        f"Pillow {m['pillow']}  ",
        f"Load average at start / end: {m.get('load_average_at_start')} / "
        f"{m.get('load_average_at_end')} (the 2 cores were shared with other work: absolute "
        "times are noisy; ratios come from interleaved rounds in the same run)  ",
        f"Run at {res['started']}, took {res['seconds']:.0f} s. Medians; ms unless noted.",
        "",
    ]
    inputs = res.get("inputs", {})
    if inputs:
        s, g, f = inputs["small"], inputs["large"], inputs["folder"]
        lines += [
            f"Inputs: small photo {s['size'][0]}x{s['size'][1]} JPEG ({s['megapixels']} MP); "
            f"large {g['size'][0]}x{g['size'][1]} JPEG ({g['megapixels']} MP, "
            f"{g['bytes'] / 1e6:.1f} MB); folder of {f['count']} photos {f['formats']}, "
            f"median {f['megapixels_median']} MP, up to {f['megapixels_max']} MP.",
            "",
        ]
    lines += [
        "## Targets",
        "",
        "| Figure | Ours | Baseline | Ratio | Target | Met |",
        "|---|---|---|---|---|---|",
    ]
    lat = res.get("latency")
    if lat:
        ms = lat["ms"]
        r = lat["ratios_to_model_alone"]
        lines.append(
            f"| 24 MP JPEG, end to end vs model alone | {ms['ours_24mp']['median']} ms | "
            f"{ms['model_alone']['median']} ms | {r['ours_24mp']}x | <= 1.3x | "
            f"{_met(r['ours_24mp'], 1.3, True)} |"
        )
        lines.append(
            f"| 24 MP JPEG, naive loop vs model alone | {ms['naive_24mp']['median']} ms | "
            f"{ms['model_alone']['median']} ms | {r['naive_24mp']}x | (baseline) | |"
        )
        if "floor_24mp_ratio" in lat:
            b = lat["breakdown_24mp_ms"]
            lines.append(
                f"| 24 MP JPEG, lower bound: decoding at libjpeg's smallest scale (1/8), then "
                f"model alone | {b['decode_at_one_eighth']} ms + {ms['model_alone']['median']} ms | "
                f"{ms['model_alone']['median']} ms | {lat['floor_24mp_ratio']}x | (bound) | |"
            )
    fol = res.get("folder")
    if fol:
        ag = fol["agreement"]
        full, dr = ag["decoded_in_full"], ag["decoded_with_draft"]
        same = full["same_top1"] == full["images"] and dr["same_top1"] == dr["images"]
        lines.append(
            f"| Folder of {fol['images']} photos, throughput | {fol['images_per_s']['ours']} img/s | "
            f"{fol['images_per_s']['naive']} img/s | {fol['speedup']}x | >= 1.3x, results identical | "
            f"{_met(fol['speedup'], 1.3, False)}; "
            f"{'same top-1 everywhere, see below' if same else 'top-1 NOT identical'} |"
        )
        if "speedup_no_draft" in fol:
            nd = fol["agreement_no_draft"]
            strict = nd["same_top1"] == nd["images"] and nd["max_abs_prob_diff"] < 1e-4
            lines.append(
                f"| Folder, with draft decoding off | {fol['images_per_s']['ours_no_draft']} img/s | "
                f"{fol['images_per_s']['naive']} img/s | {fol['speedup_no_draft']}x | >= 1.3x, "
                f"results identical | {_met(fol['speedup_no_draft'], 1.3, False)}; "
                f"{nd['same_top1']}/{nd['images']} same top-1, top-5 probabilities within "
                f"{nd['max_abs_prob_diff']:.1e}{'' if strict else ' (NOT identical)'} |"
            )
    st = res.get("startup")
    if st:
        ms = st["ms"]
        if "window_app" in ms:
            lines.append(
                f"| Time to window (`python -m gui`) | {ms['window_app']['median']} ms | "
                f"{ms['window_bare']['median']} ms (bare PySide6) | {st['window_ratio_app_to_bare']}x | "
                f"<= 1.5x (issue 3) | {_met(st['window_ratio_app_to_bare'], 1.5, True)} |"
            )
        else:
            lines.append(
                f"| Time to window, bare PySide6 window | | {ms['window_bare']['median']} ms | | | |"
            )
        lines.append(
            f"| Launch to first prediction, CLI (cold process) | "
            f"{ms['first_prediction_cli']['median']} ms | {ms['first_prediction_floor']['median']} ms "
            f"(import torch+torchvision, read weights, one forward) | "
            f"{st['first_prediction_ratio_cli_to_floor']}x | <= 1.2x | "
            f"{_met(st['first_prediction_ratio_cli_to_floor'], 1.2, True)} |"
        )
        if "first_prediction_app_self_test" in ms:
            lines.append(
                f"| Launch to first prediction, app `--self-test` (cold) | "
                f"{ms['first_prediction_app_self_test']['median']} ms | "
                f"{ms['first_prediction_floor']['median']} ms | "
                f"{st['first_prediction_ratio_app_to_floor']}x | <= 1.2x | "
                f"{_met(st['first_prediction_ratio_app_to_floor'], 1.2, True)} |"
            )
        if "first_prediction_floor_gc_paused" in ms:
            g = ms["first_prediction_floor_gc_paused"]["median"]
            for who, key in (("CLI", "cli"), ("app", "app")):
                r = st.get(f"first_prediction_ratio_{key}_to_floor_gc_paused")
                if r is not None:
                    lines.append(
                        f"| Launch to first prediction, {who}, against the floor imported with "
                        f"the garbage collector paused, as the engine imports | | {g} ms | {r}x "
                        f"| (what we add) | |"
                    )
    lines.append("")
    if lat:
        ms = lat["ms"]
        lines += [
            "## Per-image latency (batch 1)",
            "",
            "| | naive loop | ours | speed-up | model alone (plain) | our network alone |",
            "|---|---|---|---|---|---|",
            f"| small photo | {ms['naive_small']['median']} | {ms['ours_small']['median']} | "
            f"{lat['speedup_vs_naive']['small']}x | {ms['model_alone']['median']} | "
            f"{ms['ours_model_only']['median']} |",
            f"| 24 MP JPEG | {ms['naive_24mp']['median']} | {ms['ours_24mp']['median']} | "
            f"{lat['speedup_vs_naive']['24mp']}x | {ms['model_alone']['median']} | "
            f"{ms['ours_model_only']['median']} |",
            "",
            "Where a 24 MP JPEG's time goes (ms): "
            + ", ".join(f"{k} {v}" for k, v in lat["breakdown_24mp_ms"].items()),
            "",
        ]
    if fol:
        ag = fol["agreement"]
        lines += [
            "## Folder results against the naive loop",
            "",
            f"- {ag['decoded_in_full']['images']} photos decoded in full: "
            f"{ag['decoded_in_full']['same_top1']} same top-1, "
            f"{ag['decoded_in_full']['same_top5_in_order']} same top-5 in the same order, "
            f"largest difference of a top-5 probability "
            f"{ag['decoded_in_full']['max_abs_prob_diff']:.2e}.",
            f"- {ag['decoded_with_draft']['images']} large JPEGs decoded with `draft`: "
            f"{ag['decoded_with_draft']['same_top1']} same top-1, "
            f"{ag['decoded_with_draft']['same_top5_in_order']} same top-5 in order, probability "
            f"difference median {ag['decoded_with_draft']['median_abs_prob_diff']:.2e}, "
            f"max {ag['decoded_with_draft']['max_abs_prob_diff']:.2e}.",
            f"- The model gave {ag['distinct_top1_classes']} distinct top-1 classes over the folder.",
            "",
        ]
    if st:
        lines += [
            "## Start-up (fresh processes)",
            "",
            "| | median ms | min | max | n |",
            "|---|---|---|---|---|",
        ]
        for k, v in st["ms"].items():
            lines.append(f"| {k} | {v['median']} | {v['min']} | {v['max']} | {v['n']} |")
        lines += [
            "",
            "Floor, part by part (ms): "
            + ", ".join(f"{k[:-2]} {v}" for k, v in st["floor_parts_ms"].items()),
            "",
        ]
        photo = st.get("first_photo_ms")
        if photo:
            cold, warm = photo["first_photo:first_photo"], photo["first_photo_warmed:first_photo"]
            lines += [
                "The first photo after the model loads (small photo, fresh processes, median ms): "
                f"{cold['median']} cold, {warm['median']} after `Classifier.warm_up()` (the "
                "window warms up while it waits); the second photo: "
                f"{photo['first_photo:second_photo']['median']}.",
                "",
            ]
        if st.get("failed"):
            lines += [f"Not measured: {st['failed']}", ""]
    mem = res.get("memory")
    if mem:
        lines += ["## Peak memory (fresh process, MiB)", ""]
        lines += [f"- {k}: {v:.0f}" for k, v in mem["peak_rss_mib"].items()]
        lines.append("")
    lev = res.get("levers")
    if lev:
        lines += ["## Levers tried", ""]
        if "draft" in lev:
            lines += [
                "JPEG `draft` decoding (decode + preprocess ms; error of the 224 crop against "
                "full decoding, in 8-bit levels):",
                "",
                "| image | setting | decoded size | ms | mean abs err | p99 abs err |",
                "|---|---|---|---|---|---|",
            ]
            for img, rows in lev["draft"].items():
                for name, r in rows.items():
                    lines.append(
                        f"| {img} | {name} | {r['decoded_size'][0]}x{r['decoded_size'][1]} | "
                        f"{r['ms']} | {r['crop_mean_abs_err_levels']} | {r['crop_p99_abs_err_levels']} |"
                    )
            lines.append("")
        if "resize" in lev:
            lines += [
                "Resize and centre crop of a decoded picture (ms): the reference's whole-image "
                "resize then crop, against resampling only the crop (used above 1024 px):",
                "",
                "| picture | whole, then crop | crop only | speed-up | pixels differing | max diff |",
                "|---|---|---|---|---|---|",
            ]
            for img, r in lev["resize"].items():
                lines.append(
                    f"| {img} | {r['whole_then_crop']} | {r['crop_only']} | "
                    f"{ratio(r['whole_then_crop'], r['crop_only'])}x | {r['pixels_differing']:.2%} | "
                    f"{r['max_diff_levels']} |"
                )
            lines.append("")
        if "model" in lev:
            lines += ["Model alone (ms per image):", ""]
            lines += [f"- {k}: {v}" for k, v in lev["model"]["ms"].items()]
            lines += [
                f"- batch 1, channels-last, by torch thread count: "
                f"{lev['model']['b1_channels_last_ms_by_threads']}",
                "",
            ]
        if "folder" in lev:
            lines += ["Folder throughput by setting (images/s):", ""]
            lines += [f"- {k}: {v}" for k, v in lev["folder"]["images_per_s"].items()]
            b = lev["folder"]["bf16"]
            lines += [
                "",
                f"bf16 opt-in on the folder: {b['images_per_s']} images/s; top-1 the same as fp32 "
                f"for {b['same_top1']} of {b['images']} photos ({b['distinct_fp32_top1']} distinct "
                f"top-1 classes), top-5 set the same for {b['same_top5_set']}; top-1 probability "
                f"difference median {b['top1_prob_abs_diff_median']}, max {b['top1_prob_abs_diff_max']}.",
                "",
            ]
        if "weights" in lev:
            lines += [f"torch.load of the checkpoint (ms): {lev['weights']['torch_load_ms']}", ""]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [k for k in ("latency", "folder", "startup") if k in res]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        if key == "latency":
            ms = res["latency"]["ms"]
            groups = ["small", "24mp"]
            xs = range(len(groups))
            w = 0.27
            ax.bar(
                [x - w for x in xs],
                [ms[f"naive_{g}"]["median"] for g in groups],
                w,
                label="naive loop",
            )
            ax.bar(list(xs), [ms[f"ours_{g}"]["median"] for g in groups], w, label="ours")
            ax.bar([x + w for x in xs], [ms["model_alone"]["median"]] * 2, w, label="model alone")
            ax.set_xticks(list(xs), ["0.3 MP photo", "24 MP JPEG"])
            ax.set_ylabel("ms per image (batch 1)")
            ax.set_title("Per-image latency")
            ax.legend()
        elif key == "folder":
            ips = res["folder"]["images_per_s"]
            ax.bar(["naive loop", "ours"], [ips["naive"], ips["ours"]], color=["C0", "C1"])
            ax.set_ylabel("images / s")
            ax.set_title(f"Folder of {res['folder']['images']} mixed photos")
        else:
            ms = res["startup"]["ms"]
            names = [k for k in ms]
            ax.barh(names, [ms[k]["median"] for k in names], color="C2")
            ax.set_xlabel("ms from launch")
            ax.set_title("Start-up (fresh process)")
    fig.suptitle(f"{res['machine']['cpu']}, {res['machine']['cores']} cores (shared)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(res: dict[str, Any], out: Path, stem: str, command: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.json", out / f"{stem}.md"]
    paths[0].write_text(json.dumps(res, indent=1) + "\n")
    paths[1].write_text(markdown(res, command) + "\n")
    png = out / f"{stem}.png"
    if plot(res, png):
        paths.append(png)
    return paths
