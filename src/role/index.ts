export { step } from './step.js';
export { initialState, HALT_RETRY_US } from './phase.js';
export { MAX_NEIGHBOR_REPAIRS } from './probe-steps.js';
export { TIMER } from './timers.js';
export { detectionUs, handoverWindowUs } from './windows.js';
export { splitByMembers, strangerArp } from './defence-steps.js';
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
