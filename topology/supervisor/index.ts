// Runs topology tasks: one task as a RunnableService (createTask), or many in one process (Supervisor).
export { createTask, kafkaConfigFor } from './task.ts';
export type { TaskOptions } from './task.ts';
export { Supervisor } from './supervisor.ts';
export type { SupervisorOptions, TaskState, TaskStatus } from './supervisor.ts';
