"""Print how long each notebook took to execute in the last book build.

Used by `make book` after `jupyter-book build`: it reads the execution-statistics page that the
book itself renders (book/execution.md, a `{nb-exec-table}`) and prints one line per notebook.
"""

import sys
from html.parser import HTMLParser
from pathlib import Path


class _TableRows(HTMLParser):
    """Collect the text of every table cell, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def main(page: str) -> int:
    path = Path(page)
    if not path.exists():
        print(f"no execution report at {path}: was the book built?", file=sys.stderr)
        return 1
    parser = _TableRows()
    parser.feed(path.read_text(encoding="utf-8"))
    header, *rows = [row for row in parser.rows if row]
    print("Notebook execution times (last build):")
    for row in rows:
        record = dict(zip(header, row, strict=False))
        name, seconds = record.get("Document", "?"), record.get("Run Time (s)", "?")
        print(f"  {name:40s} {seconds:>8s} s  {record.get('Status', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
