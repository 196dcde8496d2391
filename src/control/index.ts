export { ControlServer } from './server.js';
export type { ControlHandler, ShellHandler } from './server.js';
export { request } from './client.js';
export { parseRequest, MAX_LINE } from './protocol.js';
export type { ControlRequest, ControlResponse } from './protocol.js';
export { operatorHandler, parseControlRequest } from './operator-handler.js';
export type { ControlDeps } from './operator-handler.js';
