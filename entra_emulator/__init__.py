"""A local fake of the Microsoft identity platform and Microsoft Graph v1.0 for the demo and end-to-end tests.

Standalone: imports neither Django nor any product module. Start it with `python -m entra_emulator` or
`entra_emulator.Emulator(...).start()`; see entra_emulator/README.md.
"""
from entra_emulator.server import Emulator

__all__ = ["Emulator"]
