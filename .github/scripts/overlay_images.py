#!/usr/bin/env python3
"""Read and rewrite the `images:` block of an overlay's kustomization.yaml, as
`kustomize edit set image` would, with nothing but the standard library (the workflows run it
on a bare runner; tests/ci runs it here, where there is no kustomize binary).

    overlay_images.py list overlays/dev
    overlay_images.py set overlays/dev agent-system-gateway=ghcr.io/me/agent-system-gateway:sha-abc@sha256:...
    overlay_images.py copy overlays/dev overlays/staging

Only the `images:` block changes; every other line, comments included, stays as it is.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

KEYS = ("name", "newName", "newTag", "digest")
REF = re.compile(
    r"(?P<name>[^:@\s]+(?::\d+)?(?:/[^:@\s]+)*)(?::(?P<tag>[\w][\w.-]*))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


@dataclass
class Image:
    name: str
    newName: str = ""  # noqa: N815 - kustomize's field names
    newTag: str = ""  # noqa: N815
    digest: str = ""

    @property
    def ref(self) -> str:
        ref = self.newName or self.name
        if self.newTag:
            ref += f":{self.newTag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref


def _block(lines: list[str]) -> tuple[int, int]:
    """The [start, end) line range of the top-level `images:` block (start = its key line)."""
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "images:"), None)
    if start is None:
        raise ValueError("no top-level `images:` block")
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "-")) or not lines[end].strip()):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # blank lines belong to what follows
        end -= 1
    return start, end


def parse(text: str) -> list[Image]:
    lines = text.splitlines()
    start, end = _block(lines)
    images: list[Image] = []
    for line in lines[start + 1 : end]:
        item = re.fullmatch(r"\s*(-\s+)?(\w+):\s*(\S*)\s*", line)
        if not item:
            raise ValueError(f"unexpected line in images: {line!r}")
        new_item, key, value = item.groups()
        if key not in KEYS:
            raise ValueError(f"unexpected key in images: {key}")
        if new_item:
            images.append(Image(name=""))
        if not images:
            raise ValueError(f"images: does not start with a list item: {line!r}")
        setattr(images[-1], key, value.strip("\"'"))
    return images


def render(images: list[Image]) -> list[str]:
    out = ["images:"]
    for image in images:
        out.append(f"  - name: {image.name}")
        out += [f"    {key}: {getattr(image, key)}" for key in KEYS[1:] if getattr(image, key)]
    return out


def rewrite(text: str, images: list[Image]) -> str:
    lines = text.splitlines()
    start, end = _block(lines)
    return "\n".join([*lines[:start], *render(images), *lines[end:]]) + "\n"


def parse_spec(spec: str) -> Image:
    """`name=registry/repo:tag@sha256:...` as kustomize edit set image takes it."""
    name, sep, ref = spec.partition("=")
    match = REF.fullmatch(ref)
    if not sep or not name or not match:
        raise ValueError(f"not NAME=IMAGE[:TAG][@DIGEST]: {spec!r}")
    return Image(name, match["name"], match["tag"] or "", match["digest"] or "")


def set_images(text: str, specs: list[Image]) -> str:
    images = parse(text)
    by_name = {image.name: image for image in images}
    for spec in specs:
        if spec.name in by_name:
            by_name[spec.name].__dict__.update(spec.__dict__)
        else:
            images.append(spec)
    return rewrite(text, images)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("list", "set", "copy"):
        print(__doc__, file=sys.stderr)
        return 2
    command, overlay, *rest = argv
    path = Path(overlay) / "kustomization.yaml"
    if command == "list":
        for image in parse(path.read_text()):
            print(f"{image.name}={image.ref}")
    elif command == "set":
        path.write_text(set_images(path.read_text(), [parse_spec(s) for s in rest]))
    else:
        (target,) = rest
        source_images = parse(path.read_text())
        target_path = Path(target) / "kustomization.yaml"
        target_path.write_text(set_images(target_path.read_text(), source_images))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
