#!/bin/bash
# Downsampling for Watchfire on InfluxDB 2 (issue 18 point 6). The influxdb:2 image runs the *.sh
# of /docker-entrypoint-initdb.d once, right after its first setup, with the influx CLI signed in
# (compose.yaml mounts this folder there). On an InfluxDB 2 set up otherwise, run it once by hand:
#   INFLUX_HOST=http://influx:8086 INFLUX_TOKEN=… INFLUX_ORG=watchfire deploy/influxdb2/watchfire-downsampling.sh
# It makes what `influx.retention` makes on a local InfluxDB 1.x:
#   - the raw bucket "watchfire" keeps readings WF_RAW_RETENTION (compose sets the bucket's
#     retention at setup; set here only when given);
#   - a bucket "watchfire_long_term" (kept WF_LONG_TERM_RETENTION, default 0 = forever) mapped to
#     database "watchfire", retention policy "long_term", so InfluxQL reads of
#     "long_term"."telemetry_5m" work through the v1 API as on 1.x;
#   - the task downsample.flux (min/max/mean per 5 minutes into it).
# NOT RUN HERE: no InfluxDB 2 on the development machines (README "Containers").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
org="${INFLUX_ORG:-${DOCKER_INFLUXDB_INIT_ORG:-watchfire}}"
raw_bucket="${DOCKER_INFLUXDB_INIT_BUCKET:-watchfire}"
long_bucket=watchfire_long_term

if [ -n "${WF_RAW_RETENTION:-}" ]; then
  raw_id="$(influx bucket list --org "$org" --name "$raw_bucket" --hide-headers | awk '{print $1}')"
  influx bucket update --id "$raw_id" --retention "$WF_RAW_RETENTION"
fi
if ! influx bucket list --org "$org" --name "$long_bucket" --hide-headers >/dev/null 2>&1; then
  influx bucket create --org "$org" --name "$long_bucket" --retention "${WF_LONG_TERM_RETENTION:-0}"
fi
long_id="$(influx bucket list --org "$org" --name "$long_bucket" --hide-headers | awk '{print $1}')"
raw_id="$(influx bucket list --org "$org" --name "$raw_bucket" --hide-headers | awk '{print $1}')"
# Explicit mappings: "autogen" (Grafana's resolution variable names it) and "long_term".
influx v1 dbrp list --org "$org" --db watchfire --rp autogen 2>/dev/null | grep -q "$raw_id" \
  || influx v1 dbrp create --org "$org" --db watchfire --rp autogen --bucket-id "$raw_id" --default
influx v1 dbrp list --org "$org" --db watchfire --rp long_term 2>/dev/null | grep -q "$long_id" \
  || influx v1 dbrp create --org "$org" --db watchfire --rp long_term --bucket-id "$long_id"
if ! influx task list --org "$org" --hide-headers 2>/dev/null | grep -q wf_telemetry_5m; then
  influx task create --org "$org" --file "$here/downsample.flux"
fi
echo "Watchfire downsampling in place: task wf_telemetry_5m → $long_bucket (db watchfire, rp long_term)"
