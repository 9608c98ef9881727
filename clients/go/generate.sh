#!/usr/bin/env bash
# Regenerates the Go codecs (package codec) from the protocol's SBE schema with SBE's own Go generator (flyweights,
# the Go counterpart of the Java codecs), the SBE version of the root pom, from the local Maven repository.
#   clients/go/generate.sh        rewrites clients/go/codec (commit the result with the schema change)
#   clients/go/generate.sh DIR    writes DIR/codec instead (codec_test.go compares that with the checked-in copy)
# Needs java, gofmt and sbe-tool in ~/.m2 (any Maven build of ledger-protocol downloads it; MAVEN_REPO overrides).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
schema="$root/ledger-protocol/src/main/resources/sbe/ledger-protocol.xml"
repo="${MAVEN_REPO:-$HOME/.m2/repository}"
out="${1:-$here}"

version="$(sed -n 's:.*<sbe.version>\(.*\)</sbe.version>.*:\1:p' "$root/pom.xml")"
tool="$repo/uk/co/real-logic/sbe-tool/$version/sbe-tool-$version.jar"
if [ -z "$version" ] || [ ! -f "$tool" ]; then
  echo "generate.sh: no sbe-tool ${version:-?} in $repo (build ledger-protocol once with Maven to fetch it)" >&2
  exit 2
fi
# the generator's own dependency, at the version its pom names
agrona_version="$(tr -d '\n' < "${tool%.jar}.pom" |
  sed -n 's:.*<artifactId>agrona</artifactId>[[:space:]]*<version>\([^<]*\)</version>.*:\1:p')"
agrona="$repo/org/agrona/agrona/$agrona_version/agrona-$agrona_version.jar"
if [ ! -f "$agrona" ]; then
  echo "generate.sh: no agrona ${agrona_version:-?} (sbe-tool's dependency) in $repo" >&2
  exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
java -Dsbe.target.language=golang -Dsbe.go.generate.generate.flyweights=true -Dsbe.target.namespace=codec \
  -Dsbe.validation.stop.on.error=true -Dsbe.output.dir="$tmp" \
  -cp "$tool:$agrona" uk.co.real_logic.sbe.SbeTool "$schema" >/dev/null
gofmt -w "$tmp/codec"
mkdir -p "$out"
rm -rf "$out/codec"
mv "$tmp/codec" "$out/codec"
