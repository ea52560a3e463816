#!/usr/bin/env bash
# Runs a command in a pseudo-terminal and passes its exit code on: PowerShell for Windows under Wine dies in
# its console host when its standard output is a pipe, and works in a terminal. The terminal is made wide so
# that lines come back unwrapped; they come with CR LF line ends and terminal escapes, which the caller strips.
set -euo pipefail
exec script -qefc "stty cols 1000 rows 50 2>/dev/null; exec $(printf '%q ' "$@")" /dev/null
