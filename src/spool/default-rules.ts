/**
 * spool/default-rules — the program's rules (events/effects.ts) for whoever opens the
 * SQLite backend without openStore: its writer thread, which cannot be handed functions
 * across the thread boundary, and the backend's own tests (SqliteStore.open). openStore
 * injects the rules itself. The backend files (sqlite-*.ts) never import events/; this
 * re-export is the one seam, and goes once those tests open their stores through openStore.
 *
 * Must never: hold a rule of its own, or be imported by code that has openStore's rules.
 */
export { createRules } from '../events/effects.js';
