"""`python -m tests.bench` (what `make bench` runs): every benchmark, one after the other, printing figures.

Each needs PostgreSQL (DATABASE_URL's server; each creates a database of its own) and prints its figures and the
ratios against its targets. Pass names to run some only: `python -m tests.bench sync views`.
"""
import subprocess
import sys

BENCHMARKS = {
    "sync": "tests.bench.bench_sync",
    "views": "tests.bench.bench_views",
    "dispatcher": "tests.bench.bench_dispatcher",
    "signature_page": "tests.bench.bench_signature_page",
}


def main(names: list[str]) -> int:
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    for name in names or list(BENCHMARKS):
        print(f"\n===== {name} =====", flush=True)
        if subprocess.run([sys.executable, "-m", BENCHMARKS[name]]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
