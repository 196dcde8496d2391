export { loadConfig, parseConfig, ip } from './load.js';
export { loadBoard, parseBoard } from './board.js';
export type {
  Board,
  Config,
  FenceLevelConfig,
  LeaseWitness,
  Member,
  MemberBmc,
  MemberIsolation,
  RedfishBoard,
  TakeoverGate,
} from './types.js';
