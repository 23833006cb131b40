/**
 * admin/import-report — the API schema of an import report's problem rows (list members,
 * suppressions): the first problems in full and every problem counted by kind.
 */
import { z } from 'zod';
import { MAX_PROBLEMS, PROBLEM_KINDS } from '../lists/import-report.js';

const kind = z.enum(PROBLEM_KINDS);

export const problemLogShape = {
  errors: z.array(z.object({ line: z.number().int().describe('1-based row (file: line) number'), value: z.string(), reason: z.string(), kind }))
    .describe(`the first ${MAX_PROBLEMS} problem rows`),
  problem_counts: z.record(z.string(), z.number().int()).describe('every problem row, counted by kind'),
  errors_truncated: z.boolean().describe(`more than ${MAX_PROBLEMS} problem rows: errors holds the first`),
};
