import { agentMain } from './paths.js';

export interface AgentContext {
  server: string;
  netns: string;
  configPath: string;
  boardPath: string;
  runDir: string;
}

/** The program run as a server's agent (inside the server namespace). */
export type AgentCommand = (context: AgentContext) => string[];

/** The real agent: `node <repo>/dist/src/cli/main.js run --config CONFIG`. */
export const realAgent: AgentCommand = ({ configPath }) => [
  process.execPath,
  agentMain(),
  'run',
  '--config',
  configPath,
];

/** A stand-in agent that does nothing but live, for testing the harness itself. */
export const placeholderAgent: AgentCommand = () => ['sleep', 'infinity'];
