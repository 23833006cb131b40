/** spool/types-quota — what quotas and reputation (src/quota) need from the spool. */

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface QuotaStore {
}
