"""The --help layout of the training commands: every flag's default, and the examples as they are written."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """HfArgumentParser's default formatter reflows the epilog, which runs example commands into one paragraph."""
