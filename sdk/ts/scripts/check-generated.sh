#!/bin/sh
# check-generated regenerates src/schema.ts from ../../openapi.yaml into a
# temporary file and fails, printing the diff, if the committed one differs.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openapi-typescript ../../openapi.yaml -o "$tmp/schema.ts" >/dev/null || exit 1
if ! diff -u src/schema.ts "$tmp/schema.ts"; then
  echo "sdk/ts/src/schema.ts is stale: run 'npm run generate' in sdk/ts (or 'task generate')" >&2
  exit 1
fi
