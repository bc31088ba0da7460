"""BENCHMARKS.md from bench/results/*.json: tables with their reproduce commands, PNG plots, targets.

Every figure in the file is read from the results; nothing here is a measurement. Each section is
rendered by its own module (report_pipeline, report_scaling, report_input, report_formats, report_targets).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from bench.compare_report import load_compare
from bench.report_formats import formats_section
from bench.report_input import input_section, serving_section
from bench.report_pipeline import pipeline_section
from bench.report_quality import quality_section
from bench.report_scaling import scaling_section
from bench.report_targets import targets_section
from bench.scoring import scoring_section
from bench.variants import variants_section
from bench.warm_start import warm_start_section


def _load(results: Path, name: str, defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return {**(defaults or {}), **json.loads(path.read_text())} if path.exists() else None


def write_report(results: Path, destination: Path) -> Path:
    """Render every section whose results exist; returns the path written."""
    machine = _load(results, "machine")
    scale = {"scale": machine["scale"]} if machine else {}
    sections, figures, fitted, ratio = [], None, {}, None
    if (data := _load(results, "pipeline", scale)) is not None:
        text, figures = pipeline_section(data, results)
        sections.append(text)
    if (data := _load(results, "scaling", scale)) is not None:
        text, fitted = scaling_section(data, results)
        sections.append(text)
    cpu, gpu = _load(results, "input_cpu", scale), _load(results, "input_gpu", scale)
    if cpu or gpu:
        text, ratio = input_section(cpu, gpu)
        sections.append(text)
    if (data := _load(results, "serving", scale)) is not None:
        sections.append(serving_section(data))
    if (data := _load(results, "formats", scale)) is not None:
        sections.append(formats_section(data))
    if (data := _load(results, "quality")) is not None:
        sections.append(quality_section(data))
    if (data := _load(results, "variants")) is not None:
        sections.append(variants_section(data))
    if (data := _load(results, "warm_start", scale)) is not None:
        sections.append(warm_start_section(data))
    if (data := _load(results, "scoring", scale)) is not None:
        sections.append(scoring_section(data))
    if (compared := load_compare(results)) is not None:
        sections.insert(0, compared)
    header = (
        "# Benchmarks\n\nWritten by `make bench` (`python -m bench all`); every figure below is measured by `bench/`.\n"
    )
    if machine:
        header += (
            f"\nMachine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, Python "
            f"{machine['python']}, no GPU unless a GPU row says so; {machine['date']}; each section's Reproduce "
            "line gives the BENCH_SCALE it ran at. Load average (1, 5, 15 min) when `bench all` started "
            f"{_load_text(machine.get('load_average_at_start'))}, when it ended "
            f"{_load_text(machine.get('load_average_at_end'))}: a load above the core count means other work shared "
            "the machine and the times are upper bounds.\n"
        )
    body = "\n".join([header, targets_section(figures, fitted, ratio), *sections])
    destination.write_text(body, encoding="utf-8")
    return destination


def _load_text(load: Sequence[float] | None) -> str:
    return "unknown" if not load else ", ".join(f"{value:.1f}" for value in load)
