"""outreach: reach every local chief prosecutor through their own voters."""

__version__ = "0.1.0"
