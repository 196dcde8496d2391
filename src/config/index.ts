export { loadConfig, parseConfig, ip } from './load.js';
export { loadBoard, parseBoard } from './board.js';
export type { Board, Config, Member, TakeoverGate } from './types.js';
