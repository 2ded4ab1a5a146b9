"""The system tests' checks: each named, a failure printed at once with its detail, and one summary
line at the end ("N passed, N failed") whose status is the script's exit code."""
PASSED, FAILED = [], []


def check(name, cond, detail=""):
    """Records a named check; prints "FAIL name detail" at once when cond is false. Returns cond."""
    (PASSED if cond else FAILED).append(name)
    if not cond:
        print(f"FAIL {name} {detail}", flush=True)
    return cond


def summary(prefix=""):
    """Prints "<prefix>N passed, N failed" and returns the exit status: 1 if any check failed."""
    print(f"{prefix}{len(PASSED)} passed, {len(FAILED)} failed", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    print(__doc__)
    print("A module for the test scripts (from checks import check, summary); nothing to run.")
