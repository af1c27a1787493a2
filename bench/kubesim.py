"""kubesim's own figures: list/watch throughput over HTTPS, and the memory of 1,000 virtual clusters.

Run: ``python -m bench kubesim`` (or each part alone: ``python bench/_kubesim_list.py``,
``python bench/_kubesim_clusters.py``, which take options).
"""

from __future__ import annotations

from bench import _kubesim_clusters, _kubesim_list


def main() -> None:
    _kubesim_list.main()
    _kubesim_clusters.main()


if __name__ == "__main__":
    main()
