"""The `earmark download` command: list the registry, or fetch one dataset and say how to prepare it."""

from __future__ import annotations

import argparse

from earmark.data import download as datasets
from earmark.errors import EarmarkError


def download(args: argparse.Namespace) -> int:
    """`earmark download NAME DIR [--no-extract]` or `earmark download --list`."""
    if args.list:
        print("\n".join(datasets.table()))
        return 0
    if not args.name or args.dir is None:
        raise EarmarkError("give a dataset NAME and a folder DIR (or --list to see the datasets)")
    entry = datasets.load_dataset(args.name)
    dest = args.dir / entry.name
    if (dest / datasets.MARKER).is_file():
        print(f"{dest}: already downloaded and extracted; nothing to do")
        print(f"next: earmark prepare {dest} PREPARED --preset {entry.preset}")
        return 0
    print("\n".join(datasets.describe(entry)), flush=True)  # licence and citation before any byte is fetched
    path = datasets.download(entry.name, args.dir, extract_archive=not args.no_extract)
    if args.no_extract:
        print(f"{path}: verified archive (not extracted)")
        return 0
    marker = datasets.read_marker(path)
    print(f"{path}: {marker['files']} files, {marker['bytes'] / 1e6:.1f} MB (archive sha256 {marker['sha256']})")
    print(f"next: earmark prepare {path} PREPARED --preset {entry.preset}")
    return 0
