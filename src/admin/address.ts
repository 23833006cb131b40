/**
 * admin/address — where the running daemon's admin API is: the daemon writes its bound
 * address to `<data_dir>/admin.json`, the CLI reads it (cli/admin-client.ts). Kept apart
 * from the server so the CLI does not load the whole API to find it.
 */

/** What `<data_dir>/admin.json` holds. */
export interface AdminAddress { host: string; port: number; pid: number; /** HTTPS (admin.tls_cert): the CLI checks the daemon presents that certificate */ tls?: boolean }
export const ADMIN_FILE = 'admin.json';

export { formatHostPort } from '../util/host-port.js';
