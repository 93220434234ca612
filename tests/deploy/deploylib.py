"""What the deployment checks share: the tree's root (argv[1]), reading its
files, and the PASS/FAIL/SKIP lines tests/deploy/check.sh counts."""
import os
import sys

ROOT = sys.argv[1]


def report(status, name, why=""):
    print(f"{status} {name}" + (f": {why}" if why else ""), flush=True)


def check(name, cond, why=""):
    report("PASS" if cond else "FAIL", name, "" if cond else why)
    return cond


def path(*parts):
    return os.path.join(ROOT, *parts)


def read(*parts):
    with open(path(*parts), encoding="utf-8") as f:
        return f.read()
