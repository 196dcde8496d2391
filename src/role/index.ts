export { step, initialState, HALT_RETRY_US, MAX_NEIGHBOR_REPAIRS } from './step.js';
export { TIMER } from './timers.js';
export type { TimerName } from './timers.js';
export type {
  Action,
  AddressName,
  CheckTarget,
  Event,
  HookName,
  LogLevel,
  MachineConfig,
  OperatorCommand,
  Phase,
  ProbeState,
  RoleState,
  StepResult,
} from './types.js';
