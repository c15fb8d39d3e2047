#!/usr/bin/env bash
# Issue 20 point 5: checks Watchfire's GB/T 26875.3 frames against an independent public codec,
# github.com/shootingfans/codec_gb26875_3_2011 (Go, MIT), pinned below. Needs go ≥ 1.19 and the
# Debian packages golang-golang-x-text-dev and golang-github-valyala-bytebufferpool-dev (the
# codec's two runtime dependencies; proxy.golang.org is not reachable here). The codec is fetched
# into a temporary GOPATH and never committed; only its output is, as the fixture
# tests/fixtures/gbt26875-interop.json that tests/adapters.gbt26875.interop.test.ts reads.
#   Usage: tests/interop/gbt26875/run.sh [path to a checkout of the codec]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
commit=96ee4a48d1beb1fbf62662a97b917cc69092dc47
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dst="$work/src/github.com/shootingfans/codec_gb26875_3_2011"
mkdir -p "$(dirname "$dst")" "$work/src/watchfire"
if [[ $# -ge 1 ]]; then cp -r "$1" "$dst"; else git clone -q https://github.com/shootingfans/codec_gb26875_3_2011 "$dst"; fi
git -C "$dst" checkout -q "$commit" 2>/dev/null || echo "note: $dst is not a git checkout at $commit" >&2
cp "$here/main.go" "$work/src/watchfire/"
export GO111MODULE=off GOPATH="$work:/usr/share/gocode" TZ=Asia/Shanghai
( cd "$work/src/watchfire" && go build -o "$work/harness" . )

# 1. Frames built by the independent codec's encoder, around application data units copied from
#    its own tests (codec/codec_test.go at $commit), each with the values those tests assert.
go_in="$work/go-in.jsonl"
cat > "$go_in" <<'JSON'
{"name":"componentState","serial":1,"version":257,"timestamp":1625187604,"source":1108152157446,"target":193,"action":2,"appData":"020101027901020304040237c2a53032cad2bbe1d2e9cad2d1ccb8d00000000000000000000000000000040009020715"}
{"name":"twoComponentStates","serial":2,"version":257,"timestamp":1625187604,"source":1108152157446,"target":193,"action":2,"appData":"020201027901020304040237c2a53032cad2bbe1d2e9cad2d1ccb8d000000000000000000000000000000400090207150d037903040506050137c2a53032cad2bbe1d2e9cad2d1ccb8d00000000000000000000000000000050009020715"}
{"name":"systemState","serial":3,"version":257,"timestamp":1625187604,"source":1108152157446,"target":193,"action":2,"appData":"010101020402040009020715"}
{"name":"twoSystemStates","serial":4,"version":257,"timestamp":1625187604,"source":1108152157446,"target":193,"action":2,"appData":"0102010204020400090207150d030501050009020715"}
{"name":"systemOperation","serial":5,"version":257,"timestamp":1625187604,"source":1108152157446,"target":193,"action":2,"appData":"04010102 84fa040009020715"}
{"name":"unitState","serial":6,"version":257,"timestamp":1625187604,"source":1108152157446,"target":193,"action":2,"appData":"150108040009020715"}
{"name":"unitOperation","serial":7,"version":257,"timestamp":1625187604,"source":1108152157446,"target":193,"action":2,"appData":"18013 1fa040009020715"}
{"name":"heartbeat","serial":8,"version":257,"timestamp":1625187604,"source":1108152157446,"target":193,"action":2,"appData":""}
JSON
go_frames="$(sed 's/ //g' "$go_in" | "$work/harness" encode)"

# 2. Frames Watchfire sends, decoded by the independent codec.
ours="$(cd "$root" && npx tsx tests/interop/gbt26875/ours.ts print)"
decoded="$(printf '%s\n' "$ours" | "$work/harness" decode)"

node - "$go_in" "$commit" <<NODE > "$root/tests/fixtures/gbt26875-interop.json"
const fs = require('fs');
const [inFile, commit] = process.argv.slice(2);
const names = fs.readFileSync(inFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l.replace(/ /g, '')).name);
const goFrames = \`$go_frames\`.trim().split('\n').map((hex, i) => ({ name: names[i], hex }));
const ours = \`$ours\`.trim().split('\n');
const decoded = \`$decoded\`.trim().split('\n').map((l) => JSON.parse(l));
const out = {
  codec: { repo: 'github.com/shootingfans/codec_gb26875_3_2011', commit, appDataFrom: 'codec/codec_test.go', run: 'tests/interop/gbt26875/run.sh', tz: 'Asia/Shanghai' },
  goFrames,
  oursDecodedByGo: ours.map((hex, i) => ({ hex, decoded: decoded[i] })),
};
console.log(JSON.stringify(out, null, 2));
NODE
echo "wrote tests/fixtures/gbt26875-interop.json" >&2
