#!/bin/sh
# fuzz.sh — run every Go fuzz target for FUZZTIME each.
#
# Usage: scripts/fuzz.sh [PACKAGES...]        (default: ./...)
# Environment:
#   GO        go command to use (default: go)
#   FUZZTIME  -fuzztime for each target (default: 10s)
#
# Targets are discovered per package with `go test -list '^Fuzz'`, because
# `go test -fuzz` accepts exactly one package and one target at a time. Every
# target is run even if an earlier one fails; the script exits 1 if any target
# failed (or a package failed to build), 0 otherwise, including when there are
# no fuzz targets at all. Inputs that make a target fail are written by Go to
# the package's testdata/fuzz/ directory; commit them as regression seeds.
set -eu

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}

if [ "$#" -eq 0 ]; then
	set -- ./...
fi

# Only packages that have test files can hold fuzz targets.
pkgs=$("$GO" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "$@")

ran=0
failed=""
for pkg in $pkgs; do
	if ! listing=$("$GO" test -list '^Fuzz' "$pkg"); then
		printf '%s\n' "$listing" >&2
		echo "fuzz: cannot list fuzz targets in $pkg" >&2
		failed="$failed $pkg"
		continue
	fi
	targets=$(printf '%s\n' "$listing" | grep -E '^Fuzz[A-Za-z0-9_]*$' || true)
	for target in $targets; do
		ran=$((ran + 1))
		echo "fuzz: $pkg $target (-fuzztime $FUZZTIME)"
		if ! "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"; then
			failed="$failed $pkg.$target"
		fi
	done
done

if [ "$ran" -eq 0 ] && [ -z "$failed" ]; then
	echo "fuzz: no fuzz targets found in $*"
	exit 0
fi
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed" >&2
	exit 1
fi
echo "fuzz: $ran target(s) passed"
