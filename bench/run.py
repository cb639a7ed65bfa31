"""`make bench`: measure the scanner against the bare directory walk, on SQLite and on
PostgreSQL (when one answers), and write bench/RESULTS.md.

Each database runs in fresh processes (settings are read at start): bench/measure.py (scan
throughput, rescans, the tag pipeline), bench/rss.py (peak memory at two library sizes) and
bench/latency.py (pause and status latency under gunicorn), bench/watch.py (change-to-catalogue
latency with live watching under gunicorn), bench/share.py (a slow FUSE share) and the
`manage.py scan` command as a whole process.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "RESULTS.md"
NOTES = ROOT / "bench" / "NOTES.md"  # the hand-written analysis appended to the results
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgres://postgres@127.0.0.1:5432/mediaserver_bench"


def run(script: str, *args: str, env: dict) -> dict:
    result = subprocess.run([sys.executable, f"bench/{script}", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench/{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def database_env(vendor: str) -> dict | None:
    # Without PYTHONDONTWRITEBYTECODE (set on some machines, this one included): an installed
    # server keeps its compiled modules, so a `manage.py scan` must not compile them each time.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCANNER_", "DJANGO_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(MEDIASERVER_VAR_DIR=str(DATA / "var"), DJANGO_LOG_LEVEL="WARNING")
    if vendor == "sqlite":
        path = DATA / "bench.sqlite3"
        for leftover in DATA.glob("bench.sqlite3*"):
            leftover.unlink()
        env["DATABASE_URL"] = f"sqlite:///{path}"
        return env
    try:
        for sql in ("DROP DATABASE IF EXISTS mediaserver_bench WITH (FORCE)", "CREATE DATABASE mediaserver_bench"):
            subprocess.run(["psql", "-q", PG_ADMIN, "-c", sql], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    env["DATABASE_URL"] = PG_BENCH
    return env


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    fs = subprocess.run(["df", "-T", str(DATA)], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
    return (f"{cpu}, {os.cpu_count()} cores, {memory / 2**20:.0f} GiB RAM, {fs} filesystem, "
            f"Linux {platform.release()}, Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", type=int, default=1_000_000, help="library size of the memory test")
    parser.add_argument("--databases", default="sqlite,postgresql")
    options = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    # Made here, not in the measured processes: building a tree must not count in their memory.
    sys.path.insert(0, str(ROOT))
    from bench import trees

    for count in (10_000, 100_000, options.large):
        trees.stat_only_tree(count)
    trees.watch_tree(100_000)
    trees.tagged_tree(2000)
    trees.video_tree(1000)
    trees.photo_tree(1000)
    sections = []
    for vendor in options.databases.split(","):
        env = database_env(vendor)
        if env is None:
            sections.append(f"## {vendor}\n\nSkipped: no PostgreSQL answered at {PG_ADMIN}.\n")
            continue
        print(f"bench: {vendor}: throughput, rescans, tags", flush=True)
        figures = run("measure.py", env=env)
        print(f"bench: {vendor}: memory", flush=True)
        small = run("rss.py", "100000", env=env)
        large = run("rss.py", str(options.large), env=env)
        print(f"bench: {vendor}: latency under gunicorn", flush=True)
        latency = run("latency.py", "100000", env=env)
        print(f"bench: {vendor}: change to catalogue, watching under gunicorn", flush=True)
        watching = run("watch.py", "100000", env=env)
        print(f"bench: {vendor}: manage.py scan", flush=True)
        command = command_figures(env, figures["stat_100000"])
        sections.append(section(figures, small, large, latency, command, watching))
        sections.append(share_section(vendor, env))
    command = "make bench" + ("" if options.large == 1_000_000 else f"  (bench/run.py --large {options.large})")
    RESULTS.write_text(report(sections, command))
    print(f"bench: wrote {RESULTS.relative_to(ROOT)}")
    shutil.rmtree(DATA / "var", ignore_errors=True)


def timed(*args: str, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def command_figures(env: dict, engine: dict) -> dict:
    """`manage.py scan` of the 100k tree as a whole process, less Django's start-up (what
    `manage.py version` takes), against the engine alone (bench/measure.py)."""
    root = str(DATA / "stat-100000")
    startup = min(timed("version", env=env) for _ in range(5))
    forget = f"from bench.measure import forget; forget({root!r})"
    first = min((timed("shell", "-c", forget, env=env), timed("scan", root, env=env))[1] for _ in range(5))
    rescan = min(timed("scan", root, env=env) for _ in range(5))
    return {"startup_s": startup, "first_s": first - startup, "rescan_s": rescan - startup,
            "first_over_engine_s": first - startup - engine["first_scan_s"],
            "rescan_over_engine_s": rescan - startup - engine["rescan_s"], "walk_s": engine["bare_walk_s"]}


def share_section(vendor: str, env: dict) -> str:
    sys.path.insert(0, str(ROOT))
    from tests.fusefs import fuse_available

    if reason := fuse_available():
        return f"### {vendor}: slow share\n\nSkipped: {reason}.\n"
    print(f"bench: {vendor}: slow share (FUSE)", flush=True)
    f = run("share.py", env=env)
    rows = [*_share_rows(f["stat"], ""), *_share_rows(f["stat_untyped"], ", no types in its listings")]
    if tagged := f.get("tagged"):
        rows.append((f"first scan of {tagged['files']:,} real tagged files",
                     f"{tagged['now_s']:.2f} s, {tagged['before_s'] / tagged['now_s']:.1f}× faster than before "
                     f"read-ahead ({tagged['before_s']:.2f} s: serial walk, one read at a time per reader)",
                     "≥ 5× faster", tagged["before_s"] >= 5 * tagged["now_s"]))
    lines = [f"### {vendor}: slow share (FUSE, {f['latency_ms']:g} ms per operation, "
             f"SCANNER_WALK_THREADS={f['walk_threads']}, {f['metadata_workers']} reader processes)", "",
             "| what | measured | target | met |", "|---|---|---|---|"]
    for what, measured, target, met in rows:
        lines.append(f"| {what} | {measured} | {target} | {'' if met == '' else ('yes' if met else '**no**')} |")
    return "\n".join(lines) + "\n"


def _share_rows(stat: dict, kind: str) -> list[tuple]:
    """The stat-only tree through one kind of share: typed listings, or none (`kind`)."""
    parallel, serial = stat["parallel_walk_s"], stat["serial_walk_s"]
    half = parallel * stat["resumed_files"] / stat["files"]  # the parallel walk's cost of what was left
    target = "≤ 2× parallel, ≥ 5× faster than serial"
    return [
        (f"serial bare walk of {stat['files']:,} stat-only files in 110 folders{kind}", f"{serial:.2f} s", "", ""),
        (f"parallel bare walk, 16 threads{kind}", f"{parallel:.2f} s", "", ""),
        *((f"{what}{kind}", f"{stat[key]:.2f} s, {stat[key] / parallel:.2f}× the parallel walk, "
           f"{serial / stat[key]:.1f}× faster than the serial walk", target,
           stat[key] <= 2 * parallel and serial >= 5 * stat[key])
          for what, key in (("first scan", "first_scan_s"), ("unchanged rescan", "rescan_s"))),
        (f"paused and resumed: the {stat['resumed_files']:,} files left{kind}",
         f"{stat['resumed_s']:.2f} s, {stat['resumed_s'] / half:.2f}× the parallel walk's share ({half:.2f} s)",
         "≤ 1.3×", stat["resumed_s"] <= 1.3 * half),
    ]


def _reader_row(figures: dict, what: str, reader: str) -> tuple:
    """A first scan of real files against their reader alone, on all cores."""
    return (f"first scan of {figures['files']:,} {what} ({reader}), {figures['workers']} reader processes",
            f"{figures['throughput_ratio']:.0%} of {reader} alone ({figures['scan_s']:.2f} s vs "
            f"{figures['alone_s']:.2f} s)", f"≥ 70% of {reader} alone", figures["throughput_ratio"] >= 0.7)


def section(f: dict, small: dict, large: dict, lat: dict, cmd: dict, watch: dict) -> str:
    big = f["stat_100000"]
    rss_ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    rows = [
        ("bare walk of 100k files (`os.scandir` + `stat`), the floor", f"{big['bare_walk_s']:.2f} s", "", ""),
        ("first scan, 10k stat-only files", _rate(f["stat_10000"]), "", ""),
        ("first scan, 100k stat-only files", _rate(big), "≥ 40,000 files/s (≤ 12× the walk)",
         big["first_scan_files_per_s"] >= 40_000 and big["first_scan_ratio"] <= 12),
        ("unchanged rescan, 100k", f"{big['rescan_s']:.2f} s, {big['rescan_ratio']:.1f}× the walk", "≤ 3× the walk",
         big["rescan_ratio"] <= 3),
        (f"rescan with 1% changed ({big['changed_files']:,} files)",
         f"{big['rescan_1pct_s']:.2f} s, {big['rescan_1pct_ratio']:.1f}× the walk", "≤ 4× the walk",
         big["rescan_1pct_ratio"] <= 4),
        *(_reader_row(f[key], what, reader) for key, what, reader in (
            ("tags", "tagged files", "mutagen"), ("videos", "small videos", "PyAV"), ("photos", "photos", "Pillow"))),
        (f"peak RSS, first scan of {large['files']:,} vs 100,000 files",
         f"{large['peak_rss_mb']:.0f} MB vs {small['peak_rss_mb']:.0f} MB ({rss_ratio:.2f}×)",
         "≤ 1.3× and < 250 MB", rss_ratio <= 1.3 and large["peak_rss_mb"] < 250),
        (f"pause takes effect (gunicorn, {lat['pauses']} pauses)",
         f"p50 {lat['pause_p50_ms']:.0f} ms, p99 {lat['pause_p99_ms']:.0f} ms", "≤ 1 s at p99",
         lat["pause_p99_ms"] <= 1000),
        ("`manage.py scan`, 100k: first scan, less Django's start-up",
         f"{cmd['first_s']:.2f} s ({cmd['first_over_engine_s']:+.2f} s on the engine alone)", "≤ engine + 0.15 s",
         cmd["first_over_engine_s"] <= 0.15),
        ("`manage.py scan`, 100k: unchanged rescan, less start-up",
         f"{cmd['rescan_s']:.2f} s, {cmd['rescan_s'] / cmd['walk_s']:.1f}× the walk "
         f"({cmd['rescan_over_engine_s']:+.2f} s on the engine alone)", "≤ engine + 0.15 s",
         cmd["rescan_over_engine_s"] <= 0.15),
        (f"status endpoint while scanning ({lat['status_requests']} requests)",
         f"p50 {lat['status_p50_ms']:.1f} ms, p99 {lat['status_p99_ms']:.1f} ms", "≤ 50 ms at p99",
         lat["status_p99_ms"] <= 50),
        (f"watching 100k files: write to catalogue row, {watch['changes']} single-file changes one by one "
         f"(add, touch, move), SCANNER_WATCH_DELAY={watch['delay_s']:g}",
         f"p50 {watch['p50_s']:.2f} s, p99 {watch['p99_s']:.2f} s (add {watch['add_p50_s']:.2f}, touch "
         f"{watch['modify_p50_s']:.2f}, move {watch['move_p50_s']:.2f} s at p50); {watch['moves_kept']} of "
         f"{watch['changes'] // 3} moves kept their row", f"≤ {watch['delay_s'] + 2:g} s at p99",
         watch["p99_s"] <= watch["delay_s"] + 2),
        ("files walked per change, against a whole-library quick rescan",
         f"{watch['files_walked_per_change']:.1f} files ({watch['walked_share_of_rescan']:.3%} of "
         f"{watch['files']:,}), {watch['scans']} targeted scans", "< 1%", watch["walked_share_of_rescan"] < 0.01),
    ]
    lines = [f"## {f['vendor']} {f['database_version']}", "", "| what | measured | target | met |", "|---|---|---|---|"]
    for what, measured, target, met in rows:
        lines.append(f"| {what} | {measured} | {target} | {'' if met == '' else ('yes' if met else '**no**')} |")
    return "\n".join(lines) + "\n"


def _rate(figures: dict) -> str:
    return (f"{figures['first_scan_s']:.2f} s, {figures['first_scan_files_per_s']:,.0f} files/s, "
            f"{figures['first_scan_ratio']:.1f}× the walk")


def report(sections: list[str], command: str) -> str:
    return "\n".join([
        "# Benchmark results",
        "",
        f"Produced by `{command}` on {datetime.date.today().isoformat()}.",
        f"Machine: {machine()}.",
        "Every ratio compares with a bare walk of the same tree measured in the same run; every",
        "time is the best of 3 runs (5 for `manage.py scan`; the machine's other work can only slow a",
        "run down), the tagged share scans excepted (one cold run each).",
        "Stat-only trees are empty files with video and image names in Artist/Album folders;",
        "the tagged tree is real MP3, FLAC, M4A and WAV files made by tests/media.py.",
        "",
        *sections,
        NOTES.read_text() if NOTES.exists() else "",
    ])


if __name__ == "__main__":
    main()
