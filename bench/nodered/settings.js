// Node-RED settings for the benchmark baseline (Mosquitto → Node-RED → InfluxDB): no editor, quiet
// logs, the flow from this folder. Ports and URLs come from the environment the runner sets.
const path = require('node:path');

module.exports = {
  uiHost: '127.0.0.1',
  uiPort: Number(process.env.NR_PORT || 1880),
  userDir: process.env.NR_USER_DIR,
  flowFile: path.join(__dirname, 'flows.json'),
  credentialSecret: false,
  // No editor and no admin API: a production deployment would not expose them to devices either.
  httpAdminRoot: false,
  logging: { console: { level: 'warn', metrics: false, audit: false } },
  editorTheme: { projects: { enabled: false } },
  functionExternalModules: false,
};
