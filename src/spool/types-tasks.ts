/** spool/types-tasks — what batch tasks (src/tasks) need from the spool. */

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface TaskStore {
}
