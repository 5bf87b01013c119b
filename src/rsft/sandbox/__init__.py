"""A confined runner for untrusted programs (generated code): see :mod:`rsft.sandbox.runner`."""

from rsft.sandbox.runner import ExecResult, Program, Sandbox, SandboxLimits, capabilities

__all__ = ["ExecResult", "Program", "Sandbox", "SandboxLimits", "capabilities"]
