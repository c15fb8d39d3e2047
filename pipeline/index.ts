// The pipeline's middle: score → buffer for storage → raise findings, the live device state and the
// offline sweep. app/ wires it between ingest (its onReading is ingest's sink), the rule engine
// (a Scorer), the InfluxDB writer and alerts (a FindingHandler).
export { createPipeline, SWEEP_MS } from './pipeline.ts';
export type { Pipeline, PipelineDeps } from './pipeline.ts';
