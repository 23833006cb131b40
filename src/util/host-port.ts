/**
 * host-port — `host:port` for logs and URLs, with an IPv6 host in brackets (`[::1]:25`).
 * Shared by every listener (admin, public, inbound) and the CLI, so none borrows it from
 * another's module.
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
