export { agentLog, clusterPicture, converged, roles } from '../../scripts/lab/cluster.js';
export type { AgentLine, Roles } from '../../scripts/lab/cluster.js';
export { monoUs, sleep } from '../../scripts/lab/exec.js';
