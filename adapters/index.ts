// Ingress adapters (issue 20): each turns what a device family really sends into the frames ingest
// already takes (contracts/ingress.ts). Only app/ wires them; they import contracts/ and this folder.
export { createGbtListener, type GbtListener, type GbtListenerConfig } from './gbt26875/listener.ts';
export { nbiotPushRoutes, type NbiotPushConfig } from './nbiot/push.ts';
export { createPlatformCommands, type PlatformCommandsConfig } from './nbiot/commands.ts';
export { notifyCallbackRoutes, type NotifyCallbacksConfig } from './notify/callbacks.ts';
