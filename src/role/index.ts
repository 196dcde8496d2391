export { step, initialState, TIMER, HALT_RETRY_US } from './step.js';
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
