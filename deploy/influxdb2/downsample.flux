// Watchfire's 5-minute downsampling on InfluxDB 2 (issue 18 point 6): what the continuous query
// `wf_telemetry_5m` does on InfluxDB 1.x (ingest/store/retention.ts), as a task. Every 5 minutes,
// the last three windows again (readings arrive after their window closed, as RESAMPLE FOR 15m
// does there; the same points are overwritten): min, max and mean of every numeric telemetry field per series (all
// tags kept), written to the bucket mapped to database "watchfire", retention policy "long_term",
// as measurement "telemetry_5m" with fields min_<field>, max_<field>, mean_<field>, stamped with
// the window's start — the names and times InfluxQL readers (the console's charts, Grafana) use
// (contracts/downsampling.ts). Created by watchfire-downsampling.sh; NOT RUN HERE (README
// "Containers": no InfluxDB 2 on the development machines).
import "types"

option task = {name: "wf_telemetry_5m", every: 5m, offset: 1m}

data =
    from(bucket: "watchfire")
        |> range(start: -15m)
        |> filter(fn: (r) => r._measurement == "telemetry" and types.isNumeric(v: r._value))

downsample = (tables=<-, fn, prefix) =>
    tables
        |> aggregateWindow(every: 5m, fn: fn, createEmpty: false, timeSrc: "_start")
        |> map(fn: (r) => ({r with _measurement: "telemetry_5m", _field: prefix + "_" + r._field}))
        |> to(bucket: "watchfire_long_term")

data |> downsample(fn: min, prefix: "min")
data |> downsample(fn: max, prefix: "max")
data |> downsample(fn: mean, prefix: "mean")
