"""`python -m outreach.cli`: the same entry point as the `outreach` console script."""

from outreach.cli import main

if __name__ == "__main__":
    main()
