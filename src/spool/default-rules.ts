/**
 * spool/default-rules — the program's rules (events/effects.ts) for whoever opens the
 * SQLite backend without openStore: its writer thread, which cannot be handed functions
 * across the thread boundary, and the backend's own tests. openStore injects the rules
 * itself. The backend files (sqlite-*.ts) never import events/; this is the one seam.
 */
export { createRules } from '../events/effects.js';
