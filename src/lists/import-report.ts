/**
 * lists/import-report — what an import (of list members or of suppressions) says it did:
 * rows read, written, duplicates, and the problem rows with line, value and reason.
 *
 * Bounded: the report keeps the first MAX_PROBLEMS problem rows and counts every problem by
 * its kind, so a file of a million bad rows gives a report of a few hundred KB, not one the
 * size of the file (a 2 MB upload once produced a 65 MB report and tripled the daemon's memory).
 *
 * Must never: drop a problem from the counts.
 */
/** The kinds of problem rows; a report counts each. */
export const PROBLEM_KINDS = ['empty_address', 'invalid_address', 'field_count', 'value_too_long', 'malformed_quote', 'unclosed_quote', 'bad_field'] as const;
export type ProblemKind = typeof PROBLEM_KINDS[number];

export interface ImportProblem { line: number; value: string; reason: string; kind: ProblemKind }

/** Problem rows kept in full in a report (every one is counted in `problem_counts`). */
export const MAX_PROBLEMS = 1000;

export interface ProblemLog {
  invalid: number;
  /** the first MAX_PROBLEMS problem rows */
  errors: ImportProblem[];
  /** problem rows per kind (all of them) */
  problem_counts: Partial<Record<ProblemKind, number>>;
  /** more problem rows than `errors` holds */
  errors_truncated: boolean;
}

export function emptyProblemLog(): ProblemLog {
  return { invalid: 0, errors: [], problem_counts: {}, errors_truncated: false };
}

export function addProblem(log: ProblemLog, p: ImportProblem): void {
  log.invalid++;
  log.problem_counts[p.kind] = (log.problem_counts[p.kind] ?? 0) + 1;
  if (log.errors.length < MAX_PROBLEMS) log.errors.push(p);
  else log.errors_truncated = true;
}
